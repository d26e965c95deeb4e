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
      sslNegotiation: 'direct',
      servername: `${ID}.dsql-fnh4.us-east-1.on.aws`,
      certificateNames: [`${ID}.dsql-fnh4.us-east-1.on.aws`],
      tokenHostname: `${ID}.dsql-fnh4.us-east-1.on.aws`,
      tokenExpiresSeconds: 900,
      caFile: undefined,
      profile: undefined,
      keepDatabase: false,
      sqlCompat: true,
      listen: { host: '127.0.0.1', port: 5432 },
      access: {
        authFile: undefined, tls: undefined, requireTls: false, allowRoles: undefined, allowCidr: undefined,
        unixSocket: undefined, allowUnauthenticated: false,
      },
      connectTimeoutMs: 10_000,
      startupTimeoutMs: 10_000,
      logLevel: 'info',
      endpointUrl: undefined,
    });
  });

  it('uses the vpce name as SNI, the cluster-id option, the cluster\'s DSQL names and signs for <id>.dsql.<region>.on.aws on the option route', async () => {
    const config = await configFrom(['--cluster-id', ID, '--endpoint', `${VPCE}:6543`, '--route', 'option']);
    expect(config).toMatchObject({
      endpoint: { host: VPCE, port: 6543 }, servername: VPCE, certificateNames: [`${ID}.dsql-fnh4.us-east-1.on.aws`, `${ID}.dsql.us-east-1.on.aws`],
      tokenHostname: `${ID}.dsql.us-east-1.on.aws`, injectClusterId: true,
    });
  });

  it('injects the cluster-id option on the option route only, unless --inject-cluster-id or its negation says otherwise', async () => {
    const sni = ['--cluster-id', ID, '--endpoint', VPCE];
    const option = [...sni, '--route', 'option'];
    expect((await configFrom(sni)).injectClusterId).toBe(false);
    expect((await configFrom(option)).injectClusterId).toBe(true);
    expect((await configFrom([...sni, '--inject-cluster-id'])).injectClusterId).toBe(true);
    expect((await configFrom([...option, '--no-inject-cluster-id'])).injectClusterId).toBe(false);
    expect((await configFrom(sni, { DSQL_PROXY_INJECT_CLUSTER_ID: 'true' })).injectClusterId).toBe(true);
  });

  it('sends postgres as the database unless --keep-database or DSQL_PROXY_KEEP_DATABASE', async () => {
    const base = ['--cluster-id', ID, '--endpoint', VPCE];
    expect((await configFrom(base)).keepDatabase).toBe(false);
    expect((await configFrom([...base, '--keep-database'])).keepDatabase).toBe(true);
    expect((await configFrom(base, { DSQL_PROXY_KEEP_DATABASE: 'true' })).keepDatabase).toBe(true);
  });

  it('takes --certificate-name or DSQL_PROXY_CERTIFICATE_NAME as the only name the certificate must carry', async () => {
    const base = ['--cluster-id', ID, '--endpoint', VPCE, '--route', 'option'];
    expect((await configFrom([...base, '--certificate-name', 'Custom.Example.com'])).certificateNames).toEqual(['custom.example.com']);
    expect((await configFrom(base, { DSQL_PROXY_CERTIFICATE_NAME: 'other.example.com' })).certificateNames).toEqual(['other.example.com']);
    expect(await errorFrom([...base, '--certificate-name', 'not a name'])).toMatchObject({ flag: '--certificate-name' });
  });

  it('reads a bare --listen port as that port on 127.0.0.1', async () => {
    expect((await configFrom(['--cluster-id', ID, '--endpoint', VPCE, '--listen', '6432'])).listen).toEqual({ host: '127.0.0.1', port: 6432 });
  });

  it('takes a flag given twice at its last value', async () => {
    expect((await configFrom(['--cluster-id', ID, '--endpoint', VPCE, '--listen', '127.0.0.1:1', '--listen', '127.0.0.1:2'])).listen.port).toBe(2);
  });

  it('takes every flag from DSQL_PROXY_* variables, flags winning over them', async () => {
    const config = await configFrom(['--region', 'eu-west-1'], {
      DSQL_PROXY_CLUSTER_ID: ID, DSQL_PROXY_ENDPOINT: '10.0.1.25', DSQL_PROXY_REGION: 'us-west-2',
      DSQL_PROXY_SERVICE_IDENTIFIER: 'dsql-ab12', DSQL_PROXY_INJECT_CLUSTER_ID: 'false', DSQL_PROXY_LISTEN: '0.0.0.0:6432', DSQL_PROXY_ALLOW_UNAUTHENTICATED: 'true',
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

  it('refuses an IP endpoint on the option route, which would send no SNI', async () => {
    const error = await errorFrom(['--cluster-id', ID, '--endpoint', '10.0.0.9', '--region', 'us-east-1', '--route', 'option']);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).flag).toBe('--route');
    expect(error.message).toMatch(/SNI/);
    expect(error.message).toMatch(/use --route sni, or give the endpoint's DNS name/);
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
    [['--cluster-id', ID, '--endpoint', VPCE, '--connect-timeout', 'soon'], '--connect-timeout', /^--connect-timeout: "soon" is not a number$/],
    [['--cluster-id', ID, '--endpoint', VPCE, '--startup-timeout', 'abc'], '--startup-timeout', /^--startup-timeout: "abc" is not a number$/],
    [['--cluster-id', ID, '--endpoint', VPCE, '--token-expires', '1.5h'], '--token-expires', /^--token-expires: "1.5h" is not a number$/],
    [['--cluster-id', ID, '--endpoint', VPCE, '--connect-timeout', '-1'], '--connect-timeout', /"-1" is not a positive number/],
    [['--cluster-id', ID, '--endpoint', `https://${VPCE}`], '--endpoint', /not a URL: drop "https:\/\/"/],
    [['--cluster-id', ID, '--endpoint', `postgres://${VPCE}:5432`], '--endpoint', /not a URL: drop "postgres:\/\/"/],
    [['--cluster-id', ID, '--endpoint', VPCE, '--startup-timeout', '3000000'], '--startup-timeout', /"3000000" is more than 3600 seconds/],
    [['--cluster-id', ID, '--endpoint', VPCE, '--connect-timeout', '2200000'], '--connect-timeout', /more than 3600 seconds/],
    [['--cluster-id', ID, '--endpoint', VPCE, '--listen', '6432.5'], '--listen', /"6432.5" is not an IP address/],
    [['--cluster-id', ID, '--endpoint', '10.0.1:5432'], '--endpoint', /"10.0.1" is not an IP address/],
    [['--cluster-id', ID, '--endpoint', VPCE, '--token-hostname', 'https://evil.example.com/'], '--token-hostname', /is not a DNS name/],
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
    expect(unknown.message).toMatch(/Did you mean --endpoint \(not --endpont\)\?/);
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
