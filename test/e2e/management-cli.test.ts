import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLUSTER_ID, REGION, SERVICE_ID, TEST_CREDENTIALS, clientEnv, expectNoSecrets, psql, runTool, spawnProxy, useRig,
  type ToolResult,
} from '../support/harness.js';
import { ManagementFake } from '../support/management-fake.js';
import { freePort } from '../support/postgres.js';
import { verifyToken } from '../support/sigv4.js';

const rig = useRig({ proxy: false });
const others = ['bbbbbbbbbbbbbbbbbbbbbbbbb1', 'bbbbbbbbbbbbbbbbbbbbbbbbb2', 'bbbbbbbbbbbbbbbbbbbbbbbbb3', 'bbbbbbbbbbbbbbbbbbbbbbbbb4'];
const fake = new ManagementFake({
  [REGION]: [
    { identifier: CLUSTER_ID, serviceIdentifier: SERVICE_ID, peers: [`arn:aws:dsql:us-east-2:123456789012:cluster/${others[0]}`], witnessRegion: 'us-west-2' },
    ...others.map((identifier, i) => ({ identifier, status: i === 3 ? 'CREATING' : 'ACTIVE', deletionProtectionEnabled: i !== 1 })),
  ],
});
beforeAll(async () => { await fake.start(); });
afterAll(async () => { await fake.stop(); });

const credentialEnv = { AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey };

async function cli(...args: string[]): Promise<ToolResult> {
  const result = await runTool(process.execPath, ['bin/dsql-proxy.js', ...args, '--endpoint-url', fake.url], { env: clientEnv(credentialEnv) });
  expectNoSecrets(result.stdout + result.stderr);
  return result;
}

describe('management commands through the management endpoint', () => {
  it('clusters: every page, as a table and as JSON, signed for dsql in the region', async () => {
    const before = fake.requests.length;
    const table = await cli('clusters', '--region', REGION);
    expect(table.status, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^IDENTIFIER\s+ARN$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([CLUSTER_ID, ...others]);
    expect(fake.requests.slice(before).map((r) => [r.path.split('?')[0], r.service, r.region])).toEqual(Array(3).fill(['/cluster', 'dsql', REGION]));
    const json = await cli('clusters', '--region', REGION, '--json');
    expect((JSON.parse(json.stdout) as { identifier: string }[]).map((c) => c.identifier)).toEqual([CLUSTER_ID, ...others]);
  });

  it('clusters --details adds status, creation time and deletion protection', async () => {
    const result = await cli('clusters', '--region', REGION, '--details');
    expect(result.stdout.split('\n')[0]).toMatch(/^IDENTIFIER\s+STATUS\s+CREATED\s+DELETION PROTECTION\s+ARN$/);
    expect(result.stdout).toMatch(new RegExp(`${others[3]}\\s+CREATING\\s+2026-01-01T00:00:00.000Z\\s+on`));
    expect(result.stdout).toMatch(new RegExp(`${others[1]}\\s+ACTIVE\\s+\\S+\\s+off`));
  });

  it('cluster <id>: status, ARN, creation time, deletion protection and multi-region peers', async () => {
    const result = await cli('cluster', CLUSTER_ID, '--region', REGION);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^status\s+ACTIVE$/m);
    expect(result.stdout).toMatch(new RegExp(`^arn\\s+arn:aws:dsql:${REGION}:123456789012:cluster/${CLUSTER_ID}$`, 'm'));
    expect(result.stdout).toMatch(/^created\s+2026-01-01T00:00:00.000Z$/m);
    expect(result.stdout).toMatch(/^deletion protection\s+on$/m);
    expect(result.stdout).toMatch(new RegExp(`^multi-region peers\\s+arn:aws:dsql:us-east-2:123456789012:cluster/${others[0]}$`, 'm'));
    expect(result.stdout).toMatch(/^witness region\s+us-west-2$/m);
    const json = JSON.parse((await cli('cluster', CLUSTER_ID, '--region', REGION, '--json')).stdout) as { status: string };
    expect(json.status).toBe('ACTIVE');
  });

  it('cluster <unknown id>: exits 1 saying it is not found in the region, with the fix', async () => {
    const result = await cli('cluster', 'zzzzzzzzzzzzzzzzzzzzzzzzzz', '--region', 'eu-west-1');
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/not found in eu-west-1/);
    expect(result.stderr).toMatch(/Check the cluster identifier and --region/);
  });

  it('service-name <id>: the service name and every name built from it, with a ready command line', async () => {
    const result = await cli('service-name', CLUSTER_ID, '--region', REGION, '--endpoint', '10.0.1.25');
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^service name\\s+com\\.amazonaws\\.${REGION}\\.${SERVICE_ID}$`, 'm'));
    expect(result.stdout).toMatch(new RegExp(`^service identifier\\s+${SERVICE_ID}$`, 'm'));
    expect(result.stdout).toContain(`${CLUSTER_ID}.${SERVICE_ID}.${REGION}.on.aws`);
    expect(result.stdout).toContain(`*.${SERVICE_ID}.${REGION}.on.aws → the endpoint's DNS name`);
    expect(result.stdout).toContain(`${CLUSTER_ID}.dsql.${REGION}.on.aws`);
    expect(result.stdout).toContain(`dsql-proxy --cluster-id ${CLUSTER_ID} --endpoint 10.0.1.25 --region ${REGION} --service-identifier ${SERVICE_ID}`);
    const json = JSON.parse((await cli('service-name', CLUSTER_ID, '--region', REGION, '--json')).stdout) as Record<string, string>;
    expect(json).toMatchObject({ serviceIdentifier: SERVICE_ID, privateDnsName: `${CLUSTER_ID}.${SERVICE_ID}.${REGION}.on.aws` });
  });

  it('a mistyped flag is a usage error before any request, naming the flag it meant', async () => {
    const before = fake.requests.length;
    const result = await cli('clusters', '--region', REGION, '--detials');
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/Unknown argument: detials\nDid you mean --details \(not --detials\)\?/);
    expect(fake.requests.length).toBe(before);
  });

  it('a missing region is a usage error naming --region', async () => {
    const result = await cli('clusters');
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--region: required/);
  });
});

describe('token', () => {
  const secrets = new Map([[TEST_CREDENTIALS.accessKeyId, TEST_CREDENTIALS.secretAccessKey]]);
  const tokenOf = async (...args: string[]): Promise<string> => {
    const result = await runTool(process.execPath, ['bin/dsql-proxy.js', 'token', ...args], { env: clientEnv(credentialEnv) });
    expect(result.status, result.stderr).toBe(0);
    return result.stdout.trim();
  };

  it('prints a DbConnectAdmin token for admin by default, signed for the no-DNS hostname', async () => {
    const token = await tokenOf('--cluster-id', CLUSTER_ID, '--region', REGION);
    const verified = verifyToken(token, { secrets, region: REGION, hostnames: [`${CLUSTER_ID}.dsql.${REGION}.on.aws`], user: 'admin', now: Date.now() });
    expect(verified).toMatchObject({ action: 'DbConnectAdmin', expiresInSeconds: 900 });
  });

  it('prints a DbConnect token for --user, for --hostname, with --expires', async () => {
    const token = await tokenOf('--user', 'app_reader', '--hostname', 'custom.example.com', '--region', REGION, '--expires', '60');
    expect(verifyToken(token, { secrets, region: REGION, hostnames: ['custom.example.com'], user: 'app_reader', now: Date.now() }))
      .toMatchObject({ action: 'DbConnect', expiresInSeconds: 60 });
  });

  it('echoes a bad --expires as typed and prints no token', async () => {
    const result = await runTool(process.execPath, ['bin/dsql-proxy.js', 'token', '--cluster-id', CLUSTER_ID, '--region', REGION, '--expires', 'abc'],
      { env: clientEnv(credentialEnv) });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/--expires: "abc" is not a number/);
  });

  it('signs for the cluster name when given the endpoint, as serving would', async () => {
    const token = await tokenOf('--cluster-id', CLUSTER_ID, '--endpoint', `vpce-0abc-def.${SERVICE_ID}.${REGION}.vpce.amazonaws.com`);
    expect(verifyToken(token, { secrets, region: REGION, hostnames: [`${CLUSTER_ID}.${SERVICE_ID}.${REGION}.on.aws`], user: 'admin', now: Date.now() }).action).toBe('DbConnectAdmin');
  });
});

describe('serving with the management API', () => {
  it('looks up the service identifier of an IP endpoint at start-up and serves', async () => {
    const proxy = await spawnProxy(['--cluster-id', CLUSTER_ID, '--endpoint', `127.0.0.1:${rig.emulator.port}`, '--region', REGION,
      '--ca-file', rig.ca.certFile, '--endpoint-url', fake.url], credentialEnv);
    try {
      expect(proxy.stderr()).toContain(`"serviceIdentifier":"${SERVICE_ID}"`);
      const result = await psql(proxy.port, ['-At', '-c', 'select 1']);
      expect(result.stdout.trim(), result.stderr).toBe('1');
    } finally {
      await proxy.stop();
    }
  });

  it('a bad value exits 2 before the service identifier is looked up', async () => {
    const before = fake.requests.length;
    const result = await runTool(process.execPath, ['bin/dsql-proxy.js', '--cluster-id', CLUSTER_ID, '--endpoint', '10.0.0.9', '--region', REGION,
      '--endpoint-url', fake.url, '--connect-timeout', 'abc'], { env: clientEnv(credentialEnv) });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--connect-timeout: "abc" is not a number/);
    expect(fake.requests.length).toBe(before);
  });

  it('exits 1 with the reason when the lookup fails', async () => {
    const result = await runTool(process.execPath, ['bin/dsql-proxy.js', '--cluster-id', 'zzzzzzzzzzzzzzzzzzzzzzzzzz', '--endpoint', '10.0.0.9',
      '--region', REGION, '--endpoint-url', fake.url], { env: clientEnv(credentialEnv) });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/could not look up the service identifier of cluster z+: GetVpcEndpointServiceName z+: not found/);
    expect(result.stderr).toMatch(/Or pass --service-identifier/);
  });

  it('--check runs the network and login checks first and starts when they pass', async () => {
    const proxy = await spawnProxy(['--cluster-id', CLUSTER_ID, '--endpoint', `127.0.0.1:${rig.emulator.port}`, '--region', REGION,
      '--service-identifier', SERVICE_ID, '--ca-file', rig.ca.certFile, '--check'], credentialEnv);
    try {
      expect(proxy.stderr()).toContain('✓ login and select 1');
      expect(proxy.stderr()).not.toContain('management API');
    } finally {
      await proxy.stop();
    }
  });

  it('--check logs in as --user', async () => {
    const before = rig.emulator.records.length;
    const proxy = await spawnProxy(['--cluster-id', CLUSTER_ID, '--endpoint', `127.0.0.1:${rig.emulator.port}`, '--region', REGION,
      '--service-identifier', SERVICE_ID, '--ca-file', rig.ca.certFile, '--check', '--user', 'app_reader'], credentialEnv);
    try {
      expect(proxy.stderr()).toMatch(/✓ login and select 1.*as app_reader:/);
      expect(rig.emulator.records.slice(before).filter((r) => r.kind === 'startup').map((r) => [r.user, r.action]))
        .toEqual([['app_reader', 'DbConnect']]);
    } finally {
      await proxy.stop();
    }
  });

  it('--check exits 1 before listening when a check fails', async () => {
    const result = await runTool(process.execPath, ['bin/dsql-proxy.js', '--cluster-id', CLUSTER_ID, '--endpoint', `127.0.0.1:${await freePort()}`,
      '--region', REGION, '--service-identifier', SERVICE_ID, '--check', '--listen', '127.0.0.1:0'], { env: clientEnv(credentialEnv) });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/✗ TCP to port \d+/);
    expect(result.stderr).not.toContain('dsql-proxy listening');
  });
});
