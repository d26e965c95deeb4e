import { readFileSync } from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { ConfigError, DEFAULTS, LOG_LEVELS, resolveConfig, type RawOptions } from './config.js';
import { startProxy } from './run.js';

/** Prefix of the environment variable behind every flag (`--cluster-id` → DSQL_PROXY_CLUSTER_ID). */
export const ENV_PREFIX = 'DSQL_PROXY';

/** Exit code for a usage or configuration error. */
export const EXIT_USAGE = 2;

/** A command-line error (unknown flag, bad value) with the text shown to the user. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Every flag of the serving command; each is also DSQL_PROXY_<NAME> in the environment. */
export const SERVE_OPTIONS = {
  'cluster-id': { type: 'string', group: 'Cluster:', describe: 'DSQL cluster identifier' },
  endpoint: { type: 'string', group: 'Cluster:', describe: 'PrivateLink connection endpoint: vpce DNS name or IP, optional :port (default 5432)' },
  region: { type: 'string', group: 'Cluster:', describe: 'AWS region (read from the vpce name when omitted; required for an IP)' },
  'service-identifier': { type: 'string', group: 'Cluster:', describe: 'PrivateLink service identifier, e.g. dsql-fnh4 (read from the vpce name when omitted)' },
  route: { choices: ['sni', 'option'], group: 'Connection:', describe: 'sni: TLS name <id>.<service-id>.<region>.on.aws, verify-full; option: vpce name as SNI, chain-only verification', default: DEFAULTS.route },
  'inject-cluster-id': { type: 'boolean', group: 'Connection:', default: true, describe: 'append -c amzn-cluster-id=<id> to the client\'s options (--no-inject-cluster-id to turn off)' },
  'ca-file': { type: 'string', group: 'Connection:', describe: 'PEM file of extra trusted CAs (added to Node\'s default store)' },
  'connect-timeout': { type: 'number', group: 'Connection:', describe: 'seconds to reach the endpoint, finish TLS and authenticate', default: DEFAULTS.connectTimeoutSeconds },
  'token-hostname': { type: 'string', group: 'Authentication:', describe: 'hostname the IAM token is signed for (default follows --route)' },
  'token-expires': { type: 'number', group: 'Authentication:', describe: 'token lifetime in seconds (1-604800)', default: DEFAULTS.tokenExpiresSeconds },
  profile: { type: 'string', group: 'Authentication:', describe: 'AWS profile for credentials (default chain otherwise)' },
  listen: { type: 'string', group: 'Local:', describe: 'address to accept PostgreSQL clients on', default: DEFAULTS.listen },
  'startup-timeout': { type: 'number', group: 'Local:', describe: 'seconds a client has to send its startup packet', default: DEFAULTS.startupTimeoutSeconds },
  'log-level': { choices: LOG_LEVELS, group: 'Local:', describe: 'JSON log level on stderr', default: DEFAULTS.logLevel },
} as const;

/** Builds the yargs parser; `exitProcess` false makes help, version and errors return instead of exiting. */
export function buildParser(argv: readonly string[]): Argv<RawOptions> {
  return yargs([...argv])
    .scriptName('dsql-proxy')
    .usage('$0 --cluster-id <id> --endpoint <vpce name or IP>[:port] [options]\n\n'
      + 'Listens for PostgreSQL clients on localhost and connects them to an Aurora DSQL cluster through a '
      + 'PrivateLink connection endpoint, answering the password request with a fresh IAM token.')
    .env(ENV_PREFIX)
    .options(SERVE_OPTIONS)
    .example('$0 --cluster-id abcdefghijklmnopqrstuvwxyz --endpoint vpce-0123456789abcdef0-abcdefgh.dsql-fnh4.us-east-1.vpce.amazonaws.com',
      'then: psql "host=localhost user=admin dbname=postgres"')
    .example('$0 --cluster-id abcdefghijklmnopqrstuvwxyz --endpoint 10.0.1.25 --region us-east-1 --service-identifier dsql-fnh4',
      'dial an endpoint IP (e.g. over Direct Connect), no DNS needed')
    .example('DSQL_PROXY_CLUSTER_ID=… DSQL_PROXY_ENDPOINT=… $0 --listen 0.0.0.0:5432',
      'every flag is also an environment variable')
    .strict()
    .version(packageVersion())
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns || 110)) as unknown as Argv<RawOptions>;
}

/**
 * Removes DSQL_PROXY_* variables that name no flag from the environment (yargs would reject them as
 * unknown arguments, and Docker's legacy link variables such as DSQL_PROXY_PORT look just like them)
 * and returns their names so the caller can warn about a possible typo.
 */
export function dropUnknownEnvironment(): string[] {
  const known = new Set([...Object.keys(SERVE_OPTIONS), 'help', 'version'].map((key) =>
    `${ENV_PREFIX}_${key.replace(/-/g, '_').toUpperCase()}`));
  const unknown = Object.keys(process.env).filter((name) => name.startsWith(`${ENV_PREFIX}_`) && !known.has(name));
  for (const name of unknown) delete process.env[name];
  return unknown;
}

/** Parsed options plus the unknown DSQL_PROXY_* variables that were ignored. */
export type ParsedOptions = RawOptions & { help?: boolean; version?: boolean; ignoredEnvironment: string[] };

/** Parses argv (and DSQL_PROXY_* variables) into raw options; throws UsageError on a bad flag. */
export async function parseOptions(argv: readonly string[]): Promise<ParsedOptions> {
  let failure: string | undefined;
  const ignoredEnvironment = dropUnknownEnvironment();
  const parsed = await buildParser(argv)
    .exitProcess(false)
    .fail((message, error) => { failure = message || error?.message || 'invalid arguments'; })
    .parseAsync();
  if (failure !== undefined) throw new UsageError(failure);
  return { ...parsed, ignoredEnvironment };
}

/** Runs the CLI; resolves with the exit code once the proxy has stopped (or immediately on an error). */
export async function main(argv: readonly string[]): Promise<number> {
  let options: ParsedOptions;
  try {
    options = await parseOptions(argv);
  } catch (error) {
    process.stderr.write(`dsql-proxy: ${(error as Error).message}\nRun "dsql-proxy --help" for the options.\n`);
    return EXIT_USAGE;
  }
  if (options.help || options.version) return 0;
  for (const name of options.ignoredEnvironment) {
    process.stderr.write(`dsql-proxy: ignoring ${name}: no such option (see --help for the DSQL_PROXY_* variables)\n`);
  }

  let proxy: Awaited<ReturnType<typeof startProxy>>;
  try {
    proxy = await startProxy(resolveConfig(options));
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`dsql-proxy: ${error.message}\nRun "dsql-proxy --help" for the options.\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`dsql-proxy: cannot start: ${(error as Error).message}\n`);
    return 1;
  }

  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      proxy.logger.info({ signal, open: proxy.server.openConnections }, 'stopping');
      void proxy.close().then(() => resolve(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
