import { describe, expect, it } from 'vitest';
import { CLUSTER_ID, REGION, runTool } from '../support/harness.js';
import { CREDENTIAL_ENV, childEnv } from '../support/service-process.js';

describe('DSQL_PROXY_* variables of serve\'s flags in the environment (an image\'s ENV lines)', () => {
  it('do not make other commands fail on unknown arguments', async () => {
    const env = childEnv({
      ...CREDENTIAL_ENV, DSQL_PROXY_LISTEN: '0.0.0.0:5432', DSQL_PROXY_HTTP_LISTEN: '0.0.0.0:9090', DSQL_PROXY_MAX_CONNECTIONS: '50',
      DSQL_PROXY_ALLOW_UNAUTHENTICATED: 'true', DSQL_PROXY_REGION: REGION,
    });
    const token = await runTool(process.execPath, ['bin/dsql-proxy.js', 'token', '--cluster-id', CLUSTER_ID], { env, timeoutMs: 20_000 });
    expect(token.status, token.stderr).toBe(0);
    expect(token.stdout).toContain(`${CLUSTER_ID}.dsql.${REGION}.on.aws/?Action=DbConnectAdmin`);
  });

  it('still reach serve, whose flags they are', async () => {
    const env = childEnv({ DSQL_PROXY_MAX_CONNECTIONS: 'many' });
    const serve = await runTool(process.execPath, ['bin/dsql-proxy.js', '--cluster-id', CLUSTER_ID, '--endpoint', '127.0.0.1:1', '--region', REGION,
      '--service-identifier', 'dsql-x'], { env, timeoutMs: 20_000 });
    expect(serve.status).toBe(2);
    expect(serve.stderr).toContain('--max-connections: "many" is not a whole number');
  });
});
