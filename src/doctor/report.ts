import type { CheckResult } from './doctor.js';

const MARK = { pass: '✓', fail: '✗', warn: '!', skip: '–' } as const;

/** True when no check failed (warnings do not count). */
export function allPassed(results: readonly CheckResult[]): boolean {
  return results.every((r) => r.status !== 'fail');
}

/** The human report: one line per check with its measured value, the remedy under every ✗ and !, and a count. */
export function renderReport(results: readonly CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.title.length));
  const lines = results.flatMap((r) => {
    const line = `${MARK[r.status]} ${r.title.padEnd(width)}  ${r.value}`;
    return (r.status === 'fail' || r.status === 'warn') && r.remedy ? [line, `    → ${r.remedy}`] : [line];
  });
  const count = (s: CheckResult['status']): number => results.filter((r) => r.status === s).length;
  const warnings = count('warn');
  lines.push('', `${count('pass')} passed, ${count('fail')} failed, ${warnings} ${warnings === 1 ? 'warning' : 'warnings'}, ${count('skip')} skipped`);
  return lines.join('\n') + '\n';
}

/** The JSON report for scripts. */
export function renderJson(results: readonly CheckResult[]): string {
  return JSON.stringify({ ok: allPassed(results), checks: results }, null, 2) + '\n';
}

/** A duration for the report: one decimal under 10 ms, whole milliseconds above. */
export function ms(value: number): string {
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
}
