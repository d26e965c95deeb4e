import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { parseConfigFile, listenerValues, processValues, type ConfigFile, type OptionValue, type OptionValues } from '../config-file.js';
import { ConfigError, type RawOptions } from '../config.js';
import type { RawServiceOptions } from '../service-config.js';
import { COMMAND_OPTIONS, CONFIG_FILE_KINDS, CONFIG_FILE_PATHS, ENV_PREFIX, GLOBAL_ONLY_KEYS, PARSER_CONFIGURATION, toRawOptions } from './options.js';

/** What serve and healthcheck read from defaults, --config, DSQL_PROXY_* variables and flags, merged but not validated. */
export interface Settings {
  /** The process-wide options. */
  readonly service: RawServiceOptions;
  /** Each listener's options, in the file's order (one when there is no "listeners" array). */
  readonly listeners: readonly RawOptions[];
  /** The --config file, when one was given. */
  readonly file: ConfigFile | undefined;
  /** --check and the role it logs in as. */
  readonly check: boolean;
  readonly user: string;
  /**
   * One line per top-level key of the --config file that a DSQL_PROXY_* variable or a flag overrides with another
   * value: an image's ENV defaults (DSQL_PROXY_LISTEN, DSQL_PROXY_HTTP_LISTEN, …) would otherwise beat the file silently.
   */
  readonly overridden: readonly string[];
  /** Where listener `index`'s value of `key` (a long flag name) came from; undefined when nothing set it. */
  origin(key: string, index: number): 'listener entry' | 'file' | 'given' | 'default' | undefined;
}

const SERVE_OPTIONS = COMMAND_OPTIONS.serve as Record<string, Record<string, unknown>>;

const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * Merges the settings of `argv` (yargs' result for `tokens`, the command line) with the --config file it names.
 * yargs fills in defaults, which must not override the file, so the keys the user gave (flags or variables) are
 * told apart by parsing `tokens` once more with no defaults.
 */
export async function readSettings(argv: Record<string, unknown>, tokens: readonly string[]): Promise<Settings> {
  const given = await givenKeys(tokens);
  const givenValues: Record<string, OptionValue> = {};
  const defaults: Record<string, OptionValue> = {};
  for (const key of Object.keys(SERVE_OPTIONS)) {
    const value = argv[camel(key)];
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') continue;
    (given.has(key) ? givenValues : defaults)[key] = value;
  }
  const path = givenValues.config;
  const file = typeof path === 'string' ? readConfigFile(path) : undefined;
  const common = processValues(file, givenValues, defaults);
  const text = (key: string): string | undefined => (typeof common[key] === 'string' ? common[key] as string : undefined);
  const numeric = (key: string): string | number | undefined => (typeof common[key] === 'boolean' ? undefined : common[key] as string | number | undefined);
  return {
    service: {
      httpListen: text('http-listen'),
      maxConnections: numeric('max-connections'),
      maxSigtermDelay: numeric('max-sigterm-delay'),
      logLevel: text('log-level'),
    },
    listeners: listenerValues(file, givenValues, defaults).map((values) => toRawOptions(camelKeys(values))),
    file,
    overridden: file ? overriddenKeys(file, givenValues) : [],
    check: common.check === true,
    user: text('user') ?? 'admin',
    origin: (key, index) => (file?.listeners?.[index]?.[key] !== undefined ? 'listener entry'
      : key in givenValues ? 'given' : file?.top[key] !== undefined ? 'file' : key in defaults ? 'default' : undefined),
  };
}

/** The long flag names the command line or a DSQL_PROXY_* variable sets (yargs' defaults left out). */
export async function givenKeys(tokens: readonly string[]): Promise<Set<string>> {
  const withoutDefaults = Object.fromEntries(Object.entries(SERVE_OPTIONS).map(([key, option]) => {
    const { default: _default, ...rest } = option;
    return [key, rest];
  }));
  const parsed = await yargs([...tokens])
    .env(ENV_PREFIX)
    .parserConfiguration(PARSER_CONFIGURATION)
    .options(withoutDefaults)
    .help(false)
    .version(false)
    .exitProcess(false)
    .fail(() => undefined) // the real parse has already accepted this command line
    .parseAsync();
  return new Set(Object.keys(SERVE_OPTIONS).filter((key) => parsed[camel(key)] !== undefined));
}

/** Reads and parses the --config file; an unreadable or malformed one is a ConfigError (exit 2). */
export function readConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new ConfigError('--config', `cannot read "${path}": ${e.code ?? e.message}`);
  }
  return parseConfigFile(text, path, { kinds: CONFIG_FILE_KINDS, globalOnly: GLOBAL_ONLY_KEYS, paths: CONFIG_FILE_PATHS });
}

function overriddenKeys(file: ConfigFile, given: Record<string, OptionValue>): string[] {
  return Object.entries(file.top).filter(([key, value]) => key in given && String(given[key]) !== String(value))
    .map(([key, value]) => `${ENV_PREFIX}_${key.replace(/-/g, '_').toUpperCase()} or --${key} (${String(given[key])}) `
      + `overrides "${key}" (${String(value)}) of ${file.path}`);
}

function camelKeys(values: OptionValues): Record<string, OptionValue> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [camel(key), value]));
}
