import { DEFAULTS, LOG_LEVELS, SSL_NEGOTIATIONS, type RawOptions } from '../config.js';

/** Flags every AWS-facing command shares. */
export const AWS_OPTIONS = {
  region: { type: 'string', group: 'AWS:', describe: 'AWS region (read from the vpce name when omitted; AWS_REGION otherwise)' },
  profile: { type: 'string', group: 'AWS:', describe: 'AWS profile for credentials (default chain otherwise)' },
  'endpoint-url': { type: 'string', group: 'AWS:', describe: 'management API endpoint, e.g. the management VPC endpoint https://vpce-….dsql.<region>.vpce.amazonaws.com' },
} as const;

/** Flags that say how to reach the cluster (serving and doctor). */
export const CONNECTION_OPTIONS = {
  'cluster-id': { type: 'string', group: 'Cluster:', describe: 'DSQL cluster identifier' },
  endpoint: { type: 'string', group: 'Cluster:', describe: 'PrivateLink connection endpoint: vpce DNS name or IP, optional :port (default 5432)' },
  'service-identifier': { type: 'string', group: 'Cluster:', describe: 'PrivateLink service identifier, e.g. dsql-fnh4 (from the vpce name, or looked up)' },
  route: { choices: ['sni', 'option'], group: 'Connection:', describe: 'sni: TLS name <id>.<service-id>.<region>.on.aws, verify-full; option: vpce name as SNI, chain-only verification', default: DEFAULTS.route },
  'inject-cluster-id': { type: 'boolean', group: 'Connection:', default: true, describe: 'append -c amzn-cluster-id=<id> to the client\'s options (--no-inject-cluster-id to turn off)' },
  'ssl-negotiation': { choices: SSL_NEGOTIATIONS, group: 'Connection:', default: DEFAULTS.sslNegotiation,
    describe: 'direct: TLS at once with ALPN postgresql (one round trip fewer); postgres: SSLRequest first, as libpq before 17' },
  'ca-file': { type: 'string', group: 'Connection:', describe: 'PEM file of extra trusted CAs (added to Node\'s default store)' },
  'connect-timeout': { type: 'number', group: 'Connection:', describe: 'seconds to reach the endpoint, finish TLS and authenticate', default: DEFAULTS.connectTimeoutSeconds },
  'token-hostname': { type: 'string', group: 'Authentication:', describe: 'hostname the IAM token is signed for (default follows --route)' },
  'token-expires': { type: 'number', group: 'Authentication:', describe: 'token lifetime in seconds (1-604800)', default: DEFAULTS.tokenExpiresSeconds },
} as const;

/** Flags only the serving command has. */
export const SERVE_ONLY_OPTIONS = {
  listen: { type: 'string', group: 'Local:', describe: 'address to accept PostgreSQL clients on', default: DEFAULTS.listen },
  'startup-timeout': { type: 'number', group: 'Local:', describe: 'seconds a client has to send its startup packet', default: DEFAULTS.startupTimeoutSeconds },
  'log-level': { choices: LOG_LEVELS, group: 'Local:', describe: 'JSON log level on stderr', default: DEFAULTS.logLevel },
  check: { type: 'boolean', group: 'Local:', default: false, describe: 'run the doctor\'s network and login checks first; exit 1 if one fails' },
} as const;

/** Output flags of the reporting commands. */
export const JSON_OPTION = { json: { type: 'boolean', default: false, describe: 'print JSON for scripts' } } as const;

/** Flags of the token and doctor commands that name the database role. */
export const ROLE_OPTIONS = {
  user: { type: 'string', default: 'admin', describe: 'database role (admin gets a DbConnectAdmin token, others DbConnect)' },
  database: { type: 'string', default: 'postgres', describe: 'database for the login check' },
} as const;

/** Every flag name any command takes (for recognising DSQL_PROXY_* variables). */
export const ALL_FLAG_NAMES: readonly string[] = [
  ...Object.keys(AWS_OPTIONS), ...Object.keys(CONNECTION_OPTIONS), ...Object.keys(SERVE_ONLY_OPTIONS),
  ...Object.keys(JSON_OPTION), ...Object.keys(ROLE_OPTIONS), 'details', 'admin', 'hostname', 'expires', 'help', 'version',
];

/** Parsed yargs arguments (camelCase keys) → RawOptions, adding the region the environment gives. */
export function toRawOptions(argv: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): RawOptions {
  const str = (key: string): string | undefined => (typeof argv[key] === 'string' ? (argv[key] as string) : undefined);
  const num = (key: string): number | undefined => (argv[key] === undefined ? undefined : Number(argv[key]));
  return {
    clusterId: str('clusterId'),
    endpoint: str('endpoint'),
    route: str('route'),
    region: str('region'),
    serviceIdentifier: str('serviceIdentifier'),
    injectClusterId: typeof argv.injectClusterId === 'boolean' ? argv.injectClusterId : undefined,
    sslNegotiation: str('sslNegotiation'),
    caFile: str('caFile'),
    tokenHostname: str('tokenHostname'),
    tokenExpires: num('tokenExpires'),
    profile: str('profile'),
    listen: str('listen'),
    connectTimeout: num('connectTimeout'),
    startupTimeout: num('startupTimeout'),
    logLevel: str('logLevel'),
    endpointUrl: str('endpointUrl'),
    ambientRegion: env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
  };
}
