import type { CheckResult } from './doctor.js';

const MARK = { pass: '✓', fail: '✗', skip: '–' } as const;

/** True when no check failed. */
export function allPassed(results: readonly CheckResult[]): boolean {
  return results.every((r) => r.status !== 'fail');
}

/** The human report: one line per check with its measured value, the remedy under every ✗, and a count. */
export function renderReport(results: readonly CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.title.length));
  const lines = results.flatMap((r) => {
    const line = `${MARK[r.status]} ${r.title.padEnd(width)}  ${r.value}`;
    return r.status === 'fail' && r.remedy ? [line, `    → ${r.remedy}`] : [line];
  });
  const count = (s: CheckResult['status']): number => results.filter((r) => r.status === s).length;
  lines.push('', `${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped`);
  return lines.join('\n') + '\n';
}

/** The JSON report for scripts. */
export function renderJson(results: readonly CheckResult[]): string {
  return JSON.stringify({ ok: allPassed(results), checks: results }, null, 2) + '\n';
}
