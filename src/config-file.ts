import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError } from './config.js';
import { jsonDuplicateKey, jsonErrorPosition } from './json-position.js';

/** The JSON type a config-file key takes: `number` keys take a number or its text, as the flag does. */
export type OptionKind = 'string' | 'number' | 'boolean';

/** One setting's value, keyed by long flag name. */
export type OptionValue = string | number | boolean;

/** Settings by long flag name (`"ca-file"`), as the file, the variables or the flags give them. */
export type OptionValues = Readonly<Record<string, OptionValue>>;

/** A parsed --config file. */
export interface ConfigFile {
  /** The file's path, for messages. */
  readonly path: string;
  /** The top-level keys: every listener's settings, and the process-wide ones. */
  readonly top: OptionValues;
  /** Each listener's own keys; undefined when the file has no "listeners" (it then describes one listener). */
  readonly listeners: readonly OptionValues[] | undefined;
}

/** What the file may hold: each key's kind, and the keys a listener entry may not set. */
export interface ConfigFileSchema {
  readonly kinds: ReadonlyMap<string, OptionKind>;
  readonly globalOnly: ReadonlySet<string>;
  /**
   * Keys whose value is a file or directory: a relative one is taken from the file's directory, as docker compose and
   * Prometheus do, since a service's working directory (/ under systemd) is rarely where its config file lives.
   */
  readonly paths?: ReadonlySet<string>;
}

/** Parses and checks the text of a --config file; throws ConfigError naming the file and the key. No I/O. */
export function parseConfigFile(text: string, path: string, schema: ConfigFileSchema): ConfigFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const position = jsonErrorPosition(text);
    const where = position ? `at line ${position.line} column ${position.column}` : 'here';
    throw fileError(path, `not valid JSON ${where}: ${(error as Error).message}`);
  }
  const duplicate = jsonDuplicateKey(text);
  if (duplicate) {
    throw fileError(path, `"${duplicate.key}" is set twice in one object (again at line ${duplicate.line} column ${duplicate.column}): `
      + 'JSON would keep only the last value; remove one');
  }
  if (!isObject(parsed)) throw fileError(path, `the top level must be an object of settings, not ${typeName(parsed)}`);
  const { listeners, ...top } = parsed;
  if ('config' in top) throw fileError(path, '"config": a config file cannot name another one');
  const checkedTop = checkValues(top, path, '', schema);
  if (listeners === undefined) return { path, top: checkedTop, listeners: undefined };
  if (!Array.isArray(listeners)) throw fileError(path, `"listeners" must be an array of objects, not ${typeName(listeners)}`);
  if (listeners.length === 0) throw fileError(path, '"listeners" is empty: list at least one, or leave it out to describe one listener at the top level');
  const entries = listeners.map((entry: unknown, index) => {
    const at = `listeners[${index}]`;
    if (!isObject(entry)) throw fileError(path, `${at} must be an object of settings, not ${typeName(entry)}`);
    for (const key of Object.keys(entry)) {
      if (schema.globalOnly.has(key)) throw fileError(path, `${at}: "${key}" applies to the whole process: set it at the top level`);
    }
    return checkValues(entry, path, `${at}: `, schema);
  });
  return { path, top: checkedTop, listeners: entries };
}

/**
 * The settings of each listener, merged by precedence: `defaults` < the file's top level < `given` (variables and
 * flags) < the listener's own entry. A file without "listeners" (or no file) gives one listener.
 */
export function listenerValues(file: ConfigFile | undefined, given: OptionValues, defaults: OptionValues): OptionValues[] {
  const common = processValues(file, given, defaults);
  return (file?.listeners ?? [{}]).map((entry) => ({ ...common, ...entry }));
}

/** The settings of the whole process: `defaults` < the file's top level < `given` (variables and flags). */
export function processValues(file: ConfigFile | undefined, given: OptionValues, defaults: OptionValues): OptionValues {
  return { ...defaults, ...file?.top, ...given };
}

function checkValues(values: Record<string, unknown>, path: string, at: string, schema: ConfigFileSchema): OptionValues {
  const checked: Record<string, OptionValue> = {};
  for (const [key, value] of Object.entries(values)) {
    const kind = schema.kinds.get(key);
    if (kind === undefined) {
      const meant = spelledAs(key, schema.kinds);
      throw fileError(path, `${at}unknown key "${key}"${meant ? `: did you mean "${meant}"?` : ''} `
        + '(keys are the long flag names of dsql-proxy --help, without the leading dashes)');
    }
    const fits = kind === 'number' ? typeof value === 'number' || typeof value === 'string' : typeof value === kind;
    if (!fits) {
      const wanted = kind === 'number' ? 'a number (or its text)' : kind === 'boolean' ? 'true or false' : 'a string';
      const fix = kind === 'string' && typeof value === 'number' ? `: put it in quotes ("${value}")` : '';
      throw fileError(path, `${at}"${key}" must be ${wanted}, not ${typeName(value)}${fix}`);
    }
    checked[key] = schema.paths?.has(key) && typeof value === 'string' && value !== '' && !isAbsolute(value)
      ? resolve(dirname(path), value) : value as OptionValue;
  }
  return checked;
}

/** The known key `key` is another spelling of (`Endpoint`, `cluster_id`, `clusterId`, `--listen`), if any. */
function spelledAs(key: string, kinds: ReadonlyMap<string, OptionKind>): string | undefined {
  const kebab = key.replace(/^-+/, '').replace(/([a-z0-9])([A-Z])/g, '$1-$2').replace(/_/g, '-').toLowerCase();
  return kinds.has(kebab) ? kebab : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

function fileError(path: string, message: string): ConfigError {
  return new ConfigError('--config', `${path}: ${message}`);
}
