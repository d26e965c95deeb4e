import { DEFAULTS, LOG_LEVELS, SSL_NEGOTIATIONS, type RawOptions } from '../config.js';
import type { OptionKind } from '../config-file.js';
import { SERVICE_DEFAULTS } from '../service-config.js';

/** Prefix of the environment variable behind every flag (`--cluster-id` → DSQL_PROXY_CLUSTER_ID). */
export const ENV_PREFIX = 'DSQL_PROXY';

/**
 * yargs parser settings of every parse: a flag given twice takes its last value, as in most tools; yargs' default
 * array would make `--listen a --listen b` no string at all, silently falling back to the default address.
 */
export const PARSER_CONFIGURATION = { 'duplicate-arguments-array': false } as const;

/** Flags every AWS-facing command shares. */
export const AWS_OPTIONS = {
  region: { type: 'string', group: 'AWS:', describe: 'AWS region (read from the vpce name when omitted; AWS_REGION otherwise)' },
  profile: { type: 'string', group: 'AWS:', describe: 'AWS profile for credentials (default chain otherwise)' },
  'endpoint-url': { type: 'string', group: 'AWS:', describe: 'management API endpoint, e.g. the management VPC endpoint https://vpce-….dsql.<region>.vpce.amazonaws.com' },
} as const;

// Numbers are taken as strings so that config.ts can echo a bad value as typed; yargs' number type turns "abc" into NaN.

/** Flags that say how to reach the cluster (serving and doctor). */
export const CONNECTION_OPTIONS = {
  'cluster-id': { type: 'string', group: 'Cluster:', describe: 'DSQL cluster identifier' },
  endpoint: { type: 'string', group: 'Cluster:', describe: 'PrivateLink connection endpoint: vpce DNS name or IP, optional :port (default 5432)' },
  'service-identifier': { type: 'string', group: 'Cluster:', describe: 'PrivateLink service identifier, e.g. dsql-fnh4 (from the vpce name, or looked up)' },
  route: { choices: ['sni', 'option'], group: 'Connection:', default: DEFAULTS.route,
    describe: 'sni (AWS private-DNS recipe): SNI and token for <id>.<service-id>.<region>.on.aws, no cluster-id option; '
      + 'option (AWS no-DNS recipe, needs the vpce DNS name): the vpce name as SNI, -c amzn-cluster-id=<id>, token for <id>.dsql.<region>.on.aws. '
      + 'Either way the certificate must be valid for one of the cluster\'s DSQL names' },
  'inject-cluster-id': { type: 'boolean', group: 'Connection:', defaultDescription: 'on with --route option, off with sni',
    describe: 'append -c amzn-cluster-id=<id> to the client\'s options (--inject-cluster-id / --no-inject-cluster-id override the route\'s choice)' },
  'ssl-negotiation': { choices: SSL_NEGOTIATIONS, group: 'Connection:', default: DEFAULTS.sslNegotiation,
    describe: 'direct: TLS at once with ALPN postgresql (one round trip fewer); postgres: SSLRequest first, as libpq before 17' },
  'ca-file': { type: 'string', group: 'Connection:', describe: 'PEM file of extra trusted CAs (added to Node\'s default store)' },
  'certificate-name': { type: 'string', group: 'Connection:',
    describe: 'the name the endpoint\'s certificate must be valid for, instead of the cluster\'s DSQL names (dsql-proxy doctor shows the names it carries)' },
  'connect-timeout': { type: 'string', group: 'Connection:', describe: 'seconds to reach the endpoint, finish TLS and authenticate', default: DEFAULTS.connectTimeoutSeconds },
  'token-hostname': { type: 'string', group: 'Authentication:', describe: 'hostname the IAM token is signed for (default follows --route)' },
  'token-expires': { type: 'string', group: 'Authentication:', describe: 'token lifetime in seconds (1-604800)', default: DEFAULTS.tokenExpiresSeconds },
} as const;

/** Flags only the serving command has. */
export const SERVE_ONLY_OPTIONS = {
  'sql-compat': { type: 'boolean', group: 'Connection:', default: true,
    describe: 'answer the SET, set_config and pg_backend_pid() Aurora DSQL refuses but GUIs send (pgAdmin, Sequelize, Beekeeper), and keep refused settings out of the startup packet; --no-sql-compat relays every byte as the client sent it' },
  'keep-database': { type: 'boolean', group: 'Connection:', default: false,
    describe: 'send the database the client asks for; by default every session asks for postgres, DSQL\'s only database' },
  listen: { type: 'string', group: 'Local:', describe: 'address to accept PostgreSQL clients on (a bare port means 127.0.0.1:port)', default: DEFAULTS.listen },
  'startup-timeout': { type: 'string', group: 'Local:', describe: 'seconds a client has to send its startup packet, finish TLS and log in (SCRAM)', default: DEFAULTS.startupTimeoutSeconds },
  'log-level': { choices: LOG_LEVELS, group: 'Local:', describe: 'JSON log level on stderr', default: DEFAULTS.logLevel },
  check: { type: 'boolean', group: 'Local:', default: false, describe: 'run the doctor\'s network and login checks first; exit 1 if one fails' },
  user: { type: 'string', group: 'Local:', default: 'admin', describe: 'database role --check logs in as' },
} as const;

/** Flags of the whole process: the config file, probes and metrics, limits and shutdown. */
export const OPERATIONS_OPTIONS = {
  config: { type: 'string', group: 'Operations:',
    describe: 'JSON file of settings: top-level keys are these long flag names ("endpoint", "ca-file", …), and "listeners" is '
      + 'an array of objects of the same keys, one listener (cluster) each. Precedence: defaults < file top level < DSQL_PROXY_* '
      + 'variables < flags < the listener\'s own entry' },
  'http-listen': { type: 'string', group: 'Operations:',
    describe: 'serve /startup, /liveness, /readiness and /metrics (Prometheus) on HOST:PORT (a bare port means 127.0.0.1:port); off by default' },
  'max-connections': { type: 'string', group: 'Operations:', default: SERVICE_DEFAULTS.maxConnections,
    describe: 'client connections the whole process holds at once; the next client gets FATAL 53300 (0 = no limit)' },
  'max-connect-rate': { type: 'string', group: 'Operations:', default: SERVICE_DEFAULTS.maxConnectRate,
    describe: 'new upstream connections per second per cluster (DSQL admits 100/s); more wait in a queue up to --connect-timeout (0 = no limit)' },
  'max-sigterm-delay': { type: 'string', group: 'Operations:', default: SERVICE_DEFAULTS.maxSigtermDelaySeconds,
    describe: 'seconds open sessions may carry on after SIGTERM/SIGINT before each is sent FATAL 57P01 and closed; a second signal exits at once (exit status 0 either way)' },
} as const;

/**
 * Keys with one value for the whole process: a config file's listener entry may not set them. Every other flag of
 * serve may differ per listener.
 */
export const GLOBAL_ONLY_KEYS: ReadonlySet<string> = new Set(['log-level', 'http-listen', 'max-connections', 'max-sigterm-delay', 'check', 'user', 'config']);

/** Flags that say who may connect to the listeners and how they prove it (bastion mode). */
export const ACCESS_OPTIONS = {
  'auth-file': { type: 'string', group: 'Client authentication:',
    describe: 'PgBouncer userlist.txt of SCRAM-SHA-256 verifiers ("role" "SCRAM-SHA-256$…", from dsql-proxy passwd ROLE); every client must log in with its password. SIGHUP re-reads it' },
  'allow-roles': { type: 'string', group: 'Client authentication:', describe: 'comma-separated roles that may connect (default: every role, admin included)' },
  'allow-cidr': { type: 'string', group: 'Client authentication:', describe: 'comma-separated address blocks TCP clients must come from, e.g. 10.0.0.0/8,2001:db8::/32' },
  'allow-unauthenticated': { type: 'boolean', group: 'Client authentication:', default: false,
    describe: 'serve a non-loopback --listen or a --unix-socket without --auth-file or --tls-client-ca (only when nothing untrusted can reach it)' },
  'tls-cert': { type: 'string', group: 'Local TLS:', describe: 'PEM certificate (chain) clients see: SSLRequest is answered S, direct TLS (ALPN postgresql) is accepted' },
  'tls-key': { type: 'string', group: 'Local TLS:', describe: 'PEM private key of --tls-cert' },
  'tls-client-ca': { type: 'string', group: 'Local TLS:', describe: 'PEM CA client certificates must chain to; the certificate\'s CN must equal the role (clientcert=verify-full)' },
  'require-tls': { type: 'boolean', group: 'Local TLS:', default: false, describe: 'refuse clients that do not use TLS' },
  'unix-socket': { type: 'string', group: 'Local:', describe: 'also listen on DIR/.s.PGSQL.<port of --listen> (psql -h DIR)' },
  'unix-socket-mode': { type: 'string', group: 'Local:', defaultDescription: '0600', describe: 'octal file mode of the unix socket (0660 lets the group in)' },
} as const;

/** Output flags of the reporting commands. */
export const JSON_OPTION = { json: { type: 'boolean', default: false, describe: 'print JSON for scripts' } } as const;

/** Flags of the doctor command that name the database role. */
export const ROLE_OPTIONS = {
  user: { type: 'string', default: 'admin', describe: 'database role (admin gets a DbConnectAdmin token, others DbConnect)' },
  database: { type: 'string', default: 'postgres', describe: 'database for the login check' },
} as const;

/** Every command's flags, by command name: the builders use them, and a mistyped flag is matched against them. */
export const COMMAND_OPTIONS = {
  serve: { ...CONNECTION_OPTIONS, ...AWS_OPTIONS, ...SERVE_ONLY_OPTIONS, ...ACCESS_OPTIONS, ...OPERATIONS_OPTIONS },
  healthcheck: { ...CONNECTION_OPTIONS, ...AWS_OPTIONS, ...SERVE_ONLY_OPTIONS, ...ACCESS_OPTIONS, ...OPERATIONS_OPTIONS },
  clusters: { ...AWS_OPTIONS, ...JSON_OPTION, details: { type: 'boolean', default: false, describe: 'add GetCluster fields (status, creation time, deletion protection)' } },
  cluster: { ...AWS_OPTIONS, ...JSON_OPTION },
  'service-name': { ...AWS_OPTIONS, ...JSON_OPTION, endpoint: { type: 'string', describe: 'your connection endpoint (vpce name or IP), to complete the dsql-proxy command line' } },
  token: {
    ...AWS_OPTIONS,
    'cluster-id': CONNECTION_OPTIONS['cluster-id'],
    endpoint: CONNECTION_OPTIONS.endpoint,
    'service-identifier': CONNECTION_OPTIONS['service-identifier'],
    route: CONNECTION_OPTIONS.route,
    hostname: { type: 'string', describe: 'hostname to sign for (default: as serving would, from --cluster-id and --endpoint/--route)' },
    admin: { type: 'boolean', describe: 'DbConnectAdmin token for the admin role (the default)' },
    user: { type: 'string', describe: 'a non-admin role: DbConnect token' },
    expires: { type: 'string', default: DEFAULTS.tokenExpiresSeconds, describe: 'lifetime in seconds (1-604800)' },
  },
  doctor: { ...CONNECTION_OPTIONS, ...AWS_OPTIONS, ...ROLE_OPTIONS, ...JSON_OPTION },
  passwd: {
    iterations: { type: 'string', default: 4096, describe: 'SCRAM iteration count (PostgreSQL\'s scram_iterations default is 4096)' },
  },
} as const;

/** A command name of COMMAND_OPTIONS. */
export type CommandName = keyof typeof COMMAND_OPTIONS;

/** The flags yargs adds to every command. */
export const BUILT_IN_FLAGS: readonly string[] = ['help', 'version'];

/** Every flag name any command takes (for recognising DSQL_PROXY_* variables). */
export const ALL_FLAG_NAMES: readonly string[] = [
  ...new Set([...Object.values(COMMAND_OPTIONS).flatMap((options) => Object.keys(options)), ...BUILT_IN_FLAGS]),
];

/** Serve's flags whose values are numbers, given as text on the command line (a config file may give a JSON number). */
const NUMERIC_FLAGS: ReadonlySet<string> = new Set([
  'connect-timeout', 'startup-timeout', 'token-expires', 'unix-socket-mode', 'max-connections', 'max-connect-rate', 'max-sigterm-delay',
]);

/** The value type of every key a config file may hold (serve's long flag names). */
export const CONFIG_FILE_KINDS: ReadonlyMap<string, OptionKind> = new Map(
  Object.entries(COMMAND_OPTIONS.serve as Record<string, { type?: string }>).map(([name, option]): [string, OptionKind] => [
    name, option.type === 'boolean' ? 'boolean' : NUMERIC_FLAGS.has(name) ? 'number' : 'string',
  ]),
);

/** Serve's keys that name a file or directory: in a --config file a relative one is taken from the file's directory. */
export const CONFIG_FILE_PATHS: ReadonlySet<string> = new Set(['ca-file', 'auth-file', 'tls-cert', 'tls-key', 'tls-client-ca', 'unix-socket']);

/** Parsed yargs arguments (camelCase keys) → RawOptions, adding the region the environment gives. */
export function toRawOptions(argv: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): RawOptions {
  const str = (key: string): string | undefined => (typeof argv[key] === 'string' ? (argv[key] as string) : undefined);
  const bool = (key: string): boolean | undefined => (typeof argv[key] === 'boolean' ? (argv[key] as boolean) : undefined);
  // Numeric flags stay as typed; config.ts parses them and echoes a bad value.
  const numeric = (key: string): string | number | undefined => (typeof argv[key] === 'string' || typeof argv[key] === 'number' ? (argv[key] as string | number) : undefined);
  return {
    clusterId: str('clusterId'),
    endpoint: str('endpoint'),
    route: str('route'),
    region: str('region'),
    serviceIdentifier: str('serviceIdentifier'),
    injectClusterId: bool('injectClusterId'),
    sslNegotiation: str('sslNegotiation'),
    caFile: str('caFile'),
    certificateName: str('certificateName'),
    tokenHostname: str('tokenHostname'),
    tokenExpires: numeric('tokenExpires'),
    profile: str('profile'),
    listen: str('listen'),
    connectTimeout: numeric('connectTimeout'),
    startupTimeout: numeric('startupTimeout'),
    keepDatabase: bool('keepDatabase'),
    sqlCompat: bool('sqlCompat'),
    logLevel: str('logLevel'),
    endpointUrl: str('endpointUrl'),
    authFile: str('authFile'),
    allowRoles: str('allowRoles'),
    allowCidr: str('allowCidr'),
    allowUnauthenticated: bool('allowUnauthenticated'),
    tlsCert: str('tlsCert'),
    tlsKey: str('tlsKey'),
    tlsClientCa: str('tlsClientCa'),
    requireTls: bool('requireTls'),
    unixSocket: str('unixSocket'),
    unixSocketMode: numeric('unixSocketMode'),
    maxConnectRate: numeric('maxConnectRate'),
    ambientRegion: env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
  };
}
