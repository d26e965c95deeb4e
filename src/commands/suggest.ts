import { BUILT_IN_FLAGS, COMMAND_OPTIONS, type CommandName } from './options.js';

const COMMAND_NAMES = Object.keys(COMMAND_OPTIONS) as CommandName[];

/** Edits between two words: insertions, deletions, substitutions and swaps of neighbours (`lsiten` → `listen` is one). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate `word` is most likely a typo of; undefined when none is close (a third of the word's letters, at most 2). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const allowed = Math.max(1, Math.min(2, Math.floor(word.length / 3)));
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(word.toLowerCase(), name);
    if (distance <= allowed && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * "Did you mean" lines for a command line yargs refused: each `--flag` the chosen command does not take
 * but nearly spells, and a first word that nearly spells a command.
 */
export function usageSuggestions(argv: readonly string[]): string[] {
  const end = argv.indexOf('--');
  const words = end < 0 ? argv : argv.slice(0, end);
  const command = COMMAND_NAMES.find((name) => words.includes(name)) ?? 'serve';
  const flags = [...Object.keys(COMMAND_OPTIONS[command]), ...BUILT_IN_FLAGS];
  const known = new Set([...flags, ...flags.map(camel)]);
  const lines: string[] = [];
  const first = words[0];
  if (first !== undefined && !first.startsWith('-') && !COMMAND_NAMES.includes(first as CommandName)) {
    const match = closest(first, COMMAND_NAMES);
    if (match) lines.push(`Did you mean the command "${match}"?`);
  }
  for (const word of words) {
    if (!word.startsWith('--')) continue;
    const name = word.slice(2).split('=')[0]!;
    const negated = name.startsWith('no-') ? name.slice(3) : undefined;
    if (known.has(name) || (negated !== undefined && known.has(negated))) continue;
    const direct = closest(name, flags);
    const viaNo = negated === undefined ? undefined : closest(negated, flags);
    const suggestion = direct ? `--${direct}` : viaNo ? `--no-${viaNo}` : undefined;
    if (suggestion) lines.push(`Did you mean ${suggestion} (not --${name})?`);
  }
  return lines;
}
