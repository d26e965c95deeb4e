import { COMMAND_OPTIONS } from './options.js';

/** Every boolean flag of any command. */
export const BOOLEAN_FLAGS: ReadonlySet<string> = new Set(Object.values(COMMAND_OPTIONS)
  .flatMap((options) => Object.entries(options as Record<string, { type?: string }>))
  .filter(([, option]) => option.type === 'boolean')
  .map(([name]) => name));

/**
 * The usage error for a boolean flag or variable spelt other than `true` or `false`, or undefined. yargs reads
 * `--check=1`, `--keep-database=yes` and `DSQL_PROXY_CHECK=1` as false without a word, which would start the
 * proxy with settings the operator did not ask for (`--check` silently skipped).
 */
export function booleanSpellingError(argv: readonly string[], env: NodeJS.ProcessEnv, envPrefix: string): string | undefined {
  for (const arg of argv) {
    const match = /^--(?:no-)?([a-z][a-z-]*)=(.*)$/s.exec(arg);
    if (match && BOOLEAN_FLAGS.has(match[1]!) && !isBooleanWord(match[2]!)) {
      return `--${match[1]}: "${match[2]}" is not true or false`;
    }
  }
  for (const flag of BOOLEAN_FLAGS) {
    const name = `${envPrefix}_${flag.replace(/-/g, '_').toUpperCase()}`;
    const value = env[name];
    if (value !== undefined && !isBooleanWord(value)) return `${name}: "${value}" is not true or false`;
  }
  return undefined;
}

function isBooleanWord(value: string): boolean {
  return value === 'true' || value === 'false';
}
