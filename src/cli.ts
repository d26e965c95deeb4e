import yargs, { type Argv } from 'yargs';
import { packageVersion } from './version.js';
import { ManagementError } from './aws/management.js';
import { doctorCommand } from './commands/doctor.js';
import { managementCommands, type CommandRunner } from './commands/management.js';
import { ALL_FLAG_NAMES, BUILT_IN_FLAGS, COMMAND_OPTIONS, ENV_PREFIX, PARSER_CONFIGURATION, toRawOptions, type CommandName } from './commands/options.js';
import { processIo, type Io } from './commands/output.js';
import { serveCommand } from './commands/serve.js';
import { usageSuggestions } from './commands/suggest.js';
import { BOOLEAN_FLAGS, booleanSpellingError } from './commands/booleans.js';
import { passwdCommand } from './commands/passwd.js';
import { tokenCommand } from './commands/token.js';
import { readSettings, type Settings } from './commands/settings.js';
import { healthcheckCommand } from './commands/healthcheck.js';
import { ConfigError, type RawOptions } from './config.js';

export { ENV_PREFIX } from './commands/options.js';

/** Exit code for a usage or configuration error. */
export const EXIT_USAGE = 2;

/** A command-line error (unknown flag, bad value) with the text shown to the user. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const envName = (flag: string): string => `${ENV_PREFIX}_${flag.replace(/-/g, '_').toUpperCase()}`;

/**
 * Removes DSQL_PROXY_* variables that name no flag from the environment (yargs would reject them as
 * unknown arguments, and Docker's legacy link variables such as DSQL_PROXY_PORT look just like them)
 * and returns their names so the caller can warn about a possible typo.
 */
export function dropUnknownEnvironment(): string[] {
  const known = new Set(ALL_FLAG_NAMES.map(envName));
  const unknown = Object.keys(process.env).filter((name) => name.startsWith(`${ENV_PREFIX}_`) && !known.has(name));
  for (const name of unknown) delete process.env[name];
  return unknown;
}

/**
 * Hides the DSQL_PROXY_* variables of flags the command on `argv` does not take. An image's ENV lines set serve's
 * flags (DSQL_PROXY_LISTEN, DSQL_PROXY_HTTP_LISTEN, …), and `dsql-proxy token` or `doctor` run in that container must
 * not fail on them as unknown arguments. The command is the first positional word, as yargs finds it.
 */
export function dropOtherCommandsEnvironment(argv: readonly string[]): void {
  const words = yargs([...argv]).boolean([...BOOLEAN_FLAGS]).parserConfiguration(PARSER_CONFIGURATION)
    .help(false).version(false).exitProcess(false).fail(() => undefined).parseSync()._;
  const first = String(words[0] ?? 'serve');
  const command = (Object.keys(COMMAND_OPTIONS) as CommandName[]).find((name) => name === first) ?? 'serve';
  const takes = new Set([...Object.keys(COMMAND_OPTIONS[command]), ...BUILT_IN_FLAGS].map(envName));
  for (const name of Object.keys(process.env)) {
    if (name.startsWith(`${ENV_PREFIX}_`) && !takes.has(name)) delete process.env[name];
  }
}

/** Builds the parser with every command; the handlers hand their bodies to `runner`. */
export function buildParser(argv: readonly string[], runner: CommandRunner): Argv {
  return yargs([...argv])
    .scriptName('dsql-proxy')
    .usage('$0 [command] [options]\n\n'
      + 'Listens for PostgreSQL clients on localhost and connects them to an Aurora DSQL cluster through a '
      + 'PrivateLink connection endpoint, answering the password request with a fresh IAM token.')
    .env(ENV_PREFIX)
    .parserConfiguration(PARSER_CONFIGURATION)
    .command(serveCommand(runner))
    .command(managementCommands(runner))
    .command(tokenCommand(runner))
    .command(doctorCommand(runner))
    .command(passwdCommand(runner))
    .command(healthcheckCommand(runner))
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
  return { ...toRawOptions(await parseServe(argv)), ignoredEnvironment };
}

/**
 * Parses serving flags, DSQL_PROXY_* variables and the --config file they name into each listener's options and the
 * process-wide ones, without running anything; throws UsageError or ConfigError.
 */
export async function parseServeSettings(argv: readonly string[]): Promise<Settings> {
  dropUnknownEnvironment();
  return readSettings(await parseServe(argv), argv);
}

async function parseServe(argv: readonly string[]): Promise<Record<string, unknown>> {
  const misspelt = booleanSpellingError(argv, process.env, ENV_PREFIX);
  if (misspelt !== undefined) throw new UsageError(misspelt);
  let failure: string | undefined;
  const parsed = await yargs([...argv])
    .env(ENV_PREFIX)
    .parserConfiguration(PARSER_CONFIGURATION)
    .options(COMMAND_OPTIONS.serve)
    .strict()
    .exitProcess(false)
    .fail((message, error) => { failure = message || error?.message || 'invalid arguments'; })
    .parseAsync();
  if (failure !== undefined) throw new UsageError(withSuggestions(failure, argv));
  return parsed;
}

function withSuggestions(message: string, argv: readonly string[]): string {
  return [message, ...usageSuggestions(argv)].join('\n');
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

/**
 * Runs the CLI with `argv`; resolves with the exit code once the command has finished. yargs runs a
 * command's handler even when its own checks fail, so the handlers only hand over their bodies: the
 * chosen body runs once the whole command line has parsed and validated.
 */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  for (const name of dropUnknownEnvironment()) {
    io.err(`dsql-proxy: ignoring ${name}: no such option (see --help for the DSQL_PROXY_* variables)\n`);
  }
  dropOtherCommandsEnvironment(argv);
  const misspelt = booleanSpellingError(argv, process.env, ENV_PREFIX);
  if (misspelt !== undefined) return report(new UsageError(misspelt), io);
  let chosen: (() => Promise<number>) | undefined;
  const runner: CommandRunner = { io, argv, choose: (body) => { chosen = body; } };
  let usage: string | undefined;
  await buildParser(argv, runner)
    .exitProcess(false)
    .fail((message, error) => { usage ??= message || error?.message || 'invalid arguments'; })
    .parseAsync();
  if (usage !== undefined) return report(new UsageError(withSuggestions(usage, argv)), io);
  if (!chosen) return 0; // --help or --version: yargs has printed it
  try {
    return await chosen();
  } catch (error) {
    return report(error, io);
  }
}
