import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseServeOptions, UsageError } from '../src/cli.js';
import { ConfigError, resolveConfig, type ProxyConfig } from '../src/config.js';
import { parseEndpointName, parseHostPort } from '../src/endpoint.js';

const VPCE = 'vpce-0123456789abcdef0-abcdefgh.dsql-fnh4.us-east-1.vpce.amazonaws.com';
const ID = 'abcdefghijklmnopqrstuvwxyz';

async function configFrom(argv: string[], env: Record<string, string> = {}): Promise<ProxyConfig> {
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  return resolveConfig(await parseServeOptions(argv));
}

async function errorFrom(argv: string[], env: Record<string, string> = {}): Promise<Error> {
  try {
    await configFrom(argv, env);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a configuration error');
}

afterEach(() => { vi.unstubAllEnvs(); });

describe('configuration from flags and environment', () => {
  it('derives everything for the sni route from the vpce name', async () => {
    expect(await configFrom(['--cluster-id', ID, '--endpoint', VPCE])).toEqual({
      clusterId: ID,
      endpoint: { host: VPCE, port: 5432 },
      region: 'us-east-1',
      serviceIdentifier: 'dsql-fnh4',
      route: 'sni',
      injectClusterId: false,
      keepDatabase: false,
      sslNegotiation: 'direct',
      servername: `${ID}.dsql-fnh4.us-east-1.on.aws`,
      certificateNames: [`${ID}.dsql-fnh4.us-east-1.on.aws`],
      tokenHostname: `${ID}.dsql-fnh4.us-east-1.on.aws`,
      tokenExpiresSeconds: 900,
      caFile: undefined,
      profile: undefined,
      listen: { host: '127.0.0.1', port: 5432 },
      connectTimeoutMs: 10_000,
      startupTimeoutMs: 10_000,
      logLevel: 'info',
      endpointUrl: undefined,
    });
  });

  it('uses the vpce name as SNI, verifies only the chain and signs for <id>.dsql.<region>.on.aws on the option route', async () => {
    const config = await configFrom(['--cluster-id', ID, '--endpoint', `${VPCE}:6543`, '--route', 'option']);
    expect(config).toMatchObject({
      endpoint: { host: VPCE, port: 6543 }, servername: VPCE, certificateNames: [`${ID}.dsql-fnh4.us-east-1.on.aws`, `${ID}.dsql.us-east-1.on.aws`],
      tokenHostname: `${ID}.dsql.us-east-1.on.aws`,
    });
  });

  it('takes every flag from DSQL_PROXY_* variables, flags winning over them', async () => {
    const config = await configFrom(['--region', 'eu-west-1'], {
      DSQL_PROXY_CLUSTER_ID: ID, DSQL_PROXY_ENDPOINT: '10.0.1.25', DSQL_PROXY_REGION: 'us-west-2',
      DSQL_PROXY_SERVICE_IDENTIFIER: 'dsql-ab12', DSQL_PROXY_INJECT_CLUSTER_ID: 'false', DSQL_PROXY_LISTEN: '0.0.0.0:6432',
      DSQL_PROXY_TOKEN_EXPIRES: '3600', DSQL_PROXY_CONNECT_TIMEOUT: '2.5', DSQL_PROXY_LOG_LEVEL: 'debug', DSQL_PROXY_PROFILE: 'dev',
      DSQL_PROXY_TOKEN_HOSTNAME: 'custom.example', DSQL_PROXY_CA_FILE: '/tmp/ca.pem', DSQL_PROXY_STARTUP_TIMEOUT: '3',
    });
    expect(config).toMatchObject({
      region: 'eu-west-1', serviceIdentifier: 'dsql-ab12', injectClusterId: false, listen: { host: '0.0.0.0', port: 6432 },
      tokenExpiresSeconds: 3600, connectTimeoutMs: 2500, logLevel: 'debug', profile: 'dev', tokenHostname: 'custom.example',
      caFile: '/tmp/ca.pem', startupTimeoutMs: 3000, certificateNames: [`${ID}.dsql-ab12.eu-west-1.on.aws`],
    });
  });

  it('accepts an IP endpoint with --region and --service-identifier, and IPv6 in brackets', async () => {
    const config = await configFrom(['--cluster-id', ID, '--endpoint', '[fd00::5]:5432', '--region', 'us-east-1', '--service-identifier', 'dsql-fnh4']);
    expect(config.endpoint).toEqual({ host: 'fd00::5', port: 5432 });
    expect(config.servername).toBe(`${ID}.dsql-fnh4.us-east-1.on.aws`);
  });

  it('sends no SNI for an IP endpoint on the option route', async () => {
    const config = await configFrom(['--cluster-id', ID, '--endpoint', '10.0.0.9', '--region', 'us-east-1', '--route', 'option']);
    expect(config.servername).toBeUndefined();
    expect(config.serviceIdentifier).toBeUndefined();
  });

  it('reads the cluster id from a private DNS endpoint name', async () => {
    const config = await configFrom(['--endpoint', `${ID}.dsql-fnh4.us-east-1.on.aws`]);
    expect(config).toMatchObject({ clusterId: ID, region: 'us-east-1', serviceIdentifier: 'dsql-fnh4' });
  });

  it.each([
    [['--cluster-id', ID], '--endpoint', /required/],
    [['--endpoint', VPCE], '--cluster-id', /required/],
    [['--cluster-id', 'ABC_1', '--endpoint', VPCE], '--cluster-id', /not a cluster identifier/],
    [['--cluster-id', ID, '--endpoint', '10.0.0.1'], '--region', /IP address/],
    [['--cluster-id', ID, '--endpoint', '10.0.0.1', '--region', 'us-east-1'], '--service-identifier', /required with --route sni/],
    [['--cluster-id', ID, '--endpoint', VPCE, '--region', 'useast'], '--region', /not an AWS region/],
    [['--cluster-id', ID, '--endpoint', `${VPCE}:99999`], '--endpoint', /not a port/],
    [['--cluster-id', ID, '--endpoint', 'fd00::zz:5432'], '--endpoint', /brackets/],
    [['--cluster-id', ID, '--endpoint', VPCE, '--listen', 'localhost:x'], '--listen', /not a port/],
    [['--cluster-id', ID, '--endpoint', VPCE, '--token-expires', '604801'], '--token-expires', /604800/],
    [['--cluster-id', ID, '--endpoint', VPCE, '--token-expires', '0'], '--token-expires', /positive/],
    [['--cluster-id', ID, '--endpoint', VPCE, '--connect-timeout', 'soon'], '--connect-timeout', /positive/],
  ] as const)('rejects %j naming %s', async (argv, flag, message) => {
    const error = await errorFrom([...argv]);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).flag).toBe(flag);
    expect(error.message).toMatch(message);
  });

  it('rejects an unknown flag and a bad choice with a usage error naming it', async () => {
    const unknown = await errorFrom(['--cluster-id', ID, '--endpont', VPCE]);
    expect(unknown).toBeInstanceOf(UsageError);
    expect(unknown.message).toMatch(/endpont/);
    const route = await errorFrom(['--cluster-id', ID, '--endpoint', VPCE, '--route', 'dns']);
    expect(route.message).toMatch(/route/);
    const negotiation = await errorFrom(['--cluster-id', ID, '--endpoint', VPCE, '--ssl-negotiation', 'require']);
    expect(negotiation).toBeInstanceOf(UsageError);
    expect(negotiation.message).toMatch(/ssl-negotiation/);
  });

  it('takes --ssl-negotiation from the flag or DSQL_PROXY_SSL_NEGOTIATION, direct by default', async () => {
    expect((await configFrom(['--cluster-id', ID, '--endpoint', VPCE])).sslNegotiation).toBe('direct');
    expect((await configFrom(['--cluster-id', ID, '--endpoint', VPCE, '--ssl-negotiation', 'postgres'])).sslNegotiation).toBe('postgres');
    vi.stubEnv('DSQL_PROXY_SSL_NEGOTIATION', 'postgres');
    expect((await configFrom(['--cluster-id', ID, '--endpoint', VPCE])).sslNegotiation).toBe('postgres');
  });

  it('ignores and reports DSQL_PROXY_* variables that name no flag', async () => {
    vi.stubEnv('DSQL_PROXY_PORT', 'tcp://10.0.0.2:5432');
    const parsed = await parseServeOptions(['--cluster-id', ID, '--endpoint', VPCE]);
    expect(parsed.ignoredEnvironment).toEqual(['DSQL_PROXY_PORT']);
  });
});

describe('endpoint names', () => {
  it.each([
    [VPCE, { serviceIdentifier: 'dsql-fnh4', region: 'us-east-1' }],
    ['vpce-0abc-xyz.dsql-a1b2c3.eu-central-1.vpce.amazonaws.com.', { serviceIdentifier: 'dsql-a1b2c3', region: 'eu-central-1' }],
    ['VPCE-0ABC-XYZ.DSQL-FNH4.US-EAST-1.VPCE.AMAZONAWS.COM', { serviceIdentifier: 'dsql-fnh4', region: 'us-east-1' }],
    ['vpce-0abc-xyz.dsql-cn01.cn-north-1.vpce.amazonaws.com.cn', { serviceIdentifier: 'dsql-cn01', region: 'cn-north-1' }],
    [`${ID}.dsql-fnh4.us-east-1.on.aws`, { clusterId: ID, serviceIdentifier: 'dsql-fnh4', region: 'us-east-1' }],
    [`${ID}.dsql.us-east-1.on.aws`, {}],
    ['10.0.0.1', {}],
    ['db.example.com', {}],
    ['dsql-fnh4.us-east-1.vpce.amazonaws.com', {}],
  ])('parses %s', (host, facts) => {
    expect(parseEndpointName(host)).toEqual(facts);
  });

  it.each([
    ['host', 5432, { host: 'host', port: 5432 }],
    ['host:6543', 5432, { host: 'host', port: 6543 }],
    ['[::1]:7', 5432, { host: '::1', port: 7 }],
    ['::1', 5432, { host: '::1', port: 5432 }],
    ['127.0.0.1:0', 5432, { host: '127.0.0.1', port: 0 }],
  ])('parses host:port %s', (text, port, expected) => {
    expect(parseHostPort(text, port)).toEqual(expected);
  });

  it.each(['', ':5432', 'bad host:1', 'h:-1', 'h:65536'])('refuses host:port %j', (text) => {
    expect(typeof parseHostPort(text, 5432)).toBe('string');
  });
});
