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
 * Removes every `amzn-cluster-id` setting from the client's `options`, in each form PostgreSQL's option parser
 * accepts (`-c name=value`, `-cname=value`, `--name=value`; the name case-insensitive, `_` and `-` alike), so
 * that only the proxy names the cluster. Other words are kept, re-escaped; an `options` left empty is dropped.
 */
export function takeClusterOptions(parameters: readonly StartupParameter[]): ClusterOptionsTaken {
  const clusterIds: string[] = [];
  const result: StartupParameter[] = [];
  for (const [name, value] of parameters) {
    if (name !== 'options') { result.push([name, value]); continue; }
    const words = splitOptions(value);
    const kept: string[] = [];
    for (let i = 0; i < words.length; i++) {
      const word = words[i]!;
      let setting: string | undefined;
      let consumed = 0;
      if (word === '-c' && i + 1 < words.length) { setting = words[i + 1]; consumed = 1; }
      else if (word.startsWith('-c') && word.length > 2) setting = word.slice(2);
      else if (word.startsWith('--')) setting = word.slice(2);
      const id = setting === undefined ? undefined : clusterIdOf(setting);
      if (id === undefined) { kept.push(word); continue; }
      clusterIds.push(id);
      i += consumed;
    }
    if (kept.length === words.length) { result.push([name, value]); continue; }
    if (kept.length > 0) result.push([name, kept.map(escapeOptionValue).join(' ')]);
  }
  return { parameters: clusterIds.length > 0 ? result : parameters, clusterIds };
}

function clusterIdOf(setting: string): string | undefined {
  const equals = setting.indexOf('=');
  if (equals < 0) return undefined;
  const name = setting.slice(0, equals).toLowerCase().replace(/_/g, '-');
  return name === CLUSTER_OPTION ? setting.slice(equals + 1) : undefined;
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
