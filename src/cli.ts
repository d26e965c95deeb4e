import { readFileSync } from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { ManagementError } from './aws/management.js';
import { doctorCommand } from './commands/doctor.js';
import { managementCommands, type CommandRunner } from './commands/management.js';
import { ALL_FLAG_NAMES, AWS_OPTIONS, CONNECTION_OPTIONS, SERVE_ONLY_OPTIONS, toRawOptions } from './commands/options.js';
import { processIo, type Io } from './commands/output.js';
import { serveCommand } from './commands/serve.js';
import { tokenCommand } from './commands/token.js';
import { ConfigError, type RawOptions } from './config.js';

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

/**
 * Removes DSQL_PROXY_* variables that name no flag from the environment (yargs would reject them as
 * unknown arguments, and Docker's legacy link variables such as DSQL_PROXY_PORT look just like them)
 * and returns their names so the caller can warn about a possible typo.
 */
export function dropUnknownEnvironment(): string[] {
  const known = new Set(ALL_FLAG_NAMES.map((key) => `${ENV_PREFIX}_${key.replace(/-/g, '_').toUpperCase()}`));
  const unknown = Object.keys(process.env).filter((name) => name.startsWith(`${ENV_PREFIX}_`) && !known.has(name));
  for (const name of unknown) delete process.env[name];
  return unknown;
}

/** Builds the parser with every command; command bodies run through `runner`. */
export function buildParser(argv: readonly string[], runner: CommandRunner): Argv {
  return yargs([...argv])
    .scriptName('dsql-proxy')
    .usage('$0 [command] [options]\n\n'
      + 'Listens for PostgreSQL clients on localhost and connects them to an Aurora DSQL cluster through a '
      + 'PrivateLink connection endpoint, answering the password request with a fresh IAM token.')
    .env(ENV_PREFIX)
    .command(serveCommand(runner))
    .command(managementCommands(runner))
    .command(tokenCommand(runner))
    .command(doctorCommand(runner))
    .strict()
    .version(packageVersion())
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns || 110));
}

/** Serving flags and variables parsed, plus the unknown DSQL_PROXY_* variables that were dropped. */
export type ParsedOptions = RawOptions & { ignoredEnvironment: string[] };

/** Parses serving flags and DSQL_PROXY_* variables into RawOptions without running anything; throws UsageError. */
export async function parseServeOptions(argv: readonly string[]): Promise<ParsedOptions> {
  const ignoredEnvironment = dropUnknownEnvironment();
  let failure: string | undefined;
  const parsed = await yargs([...argv])
    .env(ENV_PREFIX)
    .options({ ...CONNECTION_OPTIONS, ...AWS_OPTIONS, ...SERVE_ONLY_OPTIONS })
    .strict()
    .exitProcess(false)
    .fail((message, error) => { failure = message || error?.message || 'invalid arguments'; })
    .parseAsync();
  if (failure !== undefined) throw new UsageError(failure);
  return { ...toRawOptions(parsed), ignoredEnvironment };
}

/** Reports a command's failure the way the user can act on it; returns the exit code. */
function report(error: unknown, io: Io): number {
  if (error instanceof ConfigError || error instanceof UsageError) {
    io.err(`dsql-proxy: ${error.message}\nRun "dsql-proxy --help" for the options.\n`);
    return EXIT_USAGE;
  }
  if (error instanceof ManagementError) {
    io.err(`dsql-proxy: ${error.message}\n${error.hint}\n`);
    return 1;
  }
  const e = error as Error & { hint?: string };
  io.err(`dsql-proxy: ${e.message}\n${e.hint ? `${e.hint}\n` : ''}`);
  return 1;
}

/** Runs the CLI with `argv`; resolves with the exit code once the command has finished. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  for (const name of dropUnknownEnvironment()) {
    io.err(`dsql-proxy: ignoring ${name}: no such option (see --help for the DSQL_PROXY_* variables)\n`);
  }
  let exitCode = 0;
  const runner: CommandRunner = {
    io,
    run: async (body) => {
      try {
        exitCode = await body();
      } catch (error) {
        exitCode = report(error, io);
      }
    },
  };
  let usage: string | undefined;
  await buildParser(argv, runner)
    .exitProcess(false)
    .fail((message, error) => { usage = message || error?.message || 'invalid arguments'; })
    .parseAsync();
  if (usage !== undefined) return report(new UsageError(usage), io);
  return exitCode;
}
