import { escapeOptionValue, splitOptions, type StartupParameter } from './startup.js';

/** The startup option naming the DSQL cluster (`-c amzn-cluster-id=<id>`). */
export const CLUSTER_OPTION = 'amzn-cluster-id';

/** A client's startup parameters with its own cluster settings taken out. */
export interface ClusterOptionsTaken {
  /** The parameters to send on; identical to the input when no cluster setting was found. */
  readonly parameters: readonly StartupParameter[];
  /** Every cluster id the client's `options` named, in order. */
  readonly clusterIds: readonly string[];
}

/**
 * The switches PostgreSQL's backend reads from `options` and whether each takes an argument (its getopt string,
 * `process_postgres_switches` in postgres.c: "B:bc:C:D:d:EeFf:h:ijk:lN:nOPp:r:S:sTt:v:W:-:"). Several switches may
 * share a word (`-ec name=value`), and an argument may be the rest of the word or the next word.
 */
const SWITCHES_WITH_ARGUMENT = new Set('BcCDdfhkNprStvW-');

/** One switch of an `options` value, or a word that is none (PostgreSQL refuses those; kept as they are). */
type OptionUnit = { readonly flag: string; readonly argument?: string } | { readonly word: string };

/**
 * Removes every `amzn-cluster-id` setting the client made, in each form PostgreSQL accepts: in `options`
 * (`-c name=value`, `-cname=value`, `--name=value`, combined switches such as `-ec name=value`; the name
 * case-insensitive, `_` and `-` alike) and as a startup parameter of its own, so that only the proxy names the
 * cluster. Other switches are kept (re-spelt one per word when a word had to be split); an `options` left empty is
 * dropped.
 */
export function takeClusterOptions(parameters: readonly StartupParameter[]): ClusterOptionsTaken {
  const clusterIds: string[] = [];
  const result: StartupParameter[] = [];
  for (const [name, value] of parameters) {
    if (name !== 'options') {
      if (isClusterSetting(name)) clusterIds.push(value);
      else result.push([name, value]);
      continue;
    }
    const units = parseOptionUnits(splitOptions(value));
    const kept = units.filter((unit) => {
      const id = 'flag' in unit && (unit.flag === 'c' || unit.flag === '-') && unit.argument !== undefined
        ? clusterIdOf(unit.argument) : undefined;
      if (id !== undefined) clusterIds.push(id);
      return id === undefined;
    });
    if (kept.length === units.length) { result.push([name, value]); continue; }
    if (kept.length > 0) result.push([name, kept.map(spellUnit).join(' ')]);
  }
  return { parameters: clusterIds.length > 0 ? result : parameters, clusterIds };
}

function parseOptionUnits(words: readonly string[]): OptionUnit[] {
  const units: OptionUnit[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (!word.startsWith('-') || word.length < 2) { units.push({ word }); continue; }
    for (let at = 1; at < word.length; at++) {
      const flag = word[at]!;
      if (!SWITCHES_WITH_ARGUMENT.has(flag)) { units.push({ flag }); continue; }
      const rest = word.slice(at + 1);
      if (rest !== '') units.push({ flag, argument: rest });
      else if (i + 1 < words.length) units.push({ flag, argument: words[++i]! });
      else units.push({ word: `-${flag}` }); // no argument left: PostgreSQL refuses it, so it stays as it is
      break;
    }
  }
  return units;
}

function spellUnit(unit: OptionUnit): string {
  if ('word' in unit) return escapeOptionValue(unit.word);
  if (unit.argument === undefined) return `-${unit.flag}`;
  // `--name=value` must stay one word; every other switch takes its argument as the next word.
  return unit.flag === '-' ? `--${escapeOptionValue(unit.argument)}` : `-${unit.flag} ${escapeOptionValue(unit.argument)}`;
}

function isClusterSetting(name: string): boolean {
  return name.toLowerCase().replace(/_/g, '-') === CLUSTER_OPTION;
}

function clusterIdOf(setting: string): string | undefined {
  const equals = setting.indexOf('=');
  if (equals < 0) return undefined;
  return isClusterSetting(setting.slice(0, equals)) ? setting.slice(equals + 1) : undefined;
}

/**
 * Sets the `database` parameter to `database` (appending it when the client sent none, since the server would
 * otherwise default it to the user name); returns the new parameters and what the client had asked for.
 */
export function withDatabase(parameters: readonly StartupParameter[], database: string):
  { parameters: StartupParameter[]; requested: string | undefined } {
  let requested: string | undefined;
  const result = parameters.map(([name, value]): StartupParameter => {
    if (name !== 'database') return [name, value];
    requested = value;
    return [name, database];
  });
  if (requested === undefined) result.push(['database', database]);
  return { parameters: result, requested };
}

/** Startup parameters with some settings taken out, and the names of those taken. */
export interface SettingsDropped {
  /** The parameters to send on; identical to the input when nothing was dropped. */
  readonly parameters: readonly StartupParameter[];
  /** The setting names dropped, as the client spelt them, in order (repeats included). */
  readonly dropped: readonly string[];
}

/**
 * Takes out every setting `keep` refuses: a startup parameter of its own (any name but `user`, `database`,
 * `options` and `replication`, which are no settings) and a `-c name=value` / `--name=value` in `options`, in the
 * forms takeClusterOptions understands. Other switches stay; an `options` left empty is dropped.
 */
export function dropSettings(parameters: readonly StartupParameter[], keep: (name: string) => boolean): SettingsDropped {
  const dropped: string[] = [];
  const result: StartupParameter[] = [];
  for (const [name, value] of parameters) {
    if (name !== 'options') {
      if (NOT_SETTINGS.has(name) || keep(name)) result.push([name, value]);
      else dropped.push(name);
      continue;
    }
    const units = parseOptionUnits(splitOptions(value));
    const kept = units.filter((unit) => {
      if (!('flag' in unit) || (unit.flag !== 'c' && unit.flag !== '-') || unit.argument === undefined) return true;
      const equals = unit.argument.indexOf('=');
      if (equals < 0) return true;
      // PostgreSQL reads `-c a-b=1` as a_b: compare in its spelling.
      const setting = unit.argument.slice(0, equals).replace(/-/g, '_');
      if (keep(setting)) return true;
      dropped.push(setting);
      return false;
    });
    if (kept.length === units.length) result.push([name, value]);
    else if (kept.length > 0) result.push([name, kept.map(spellUnit).join(' ')]);
  }
  return { parameters: dropped.length > 0 ? result : parameters, dropped };
}

/** StartupMessage keys that are not run-time settings. */
const NOT_SETTINGS = new Set(['user', 'database', 'options', 'replication']);
