import { NO_COMPAT } from './sql-compat.js';

/** Figures of one path: every round's sample per metric, and idle-session memory. */
export interface PathFigures {
  samples: Record<string, number[]>;
  memory: { sessions: number; rssBytes: number; bytesPerSession: number }[];
}

/** What a bench run produced, also written as JSON for comparisons across commits. */
export interface BenchResults {
  meta: Record<string, string | number>;
  paths: Record<string, PathFigures>;
  /** CPU per transaction (µs) of the bare Node relay (no TLS, no login) in each round. */
  nodeFloor?: { user: number; system: number }[];
}

/** Metric keys, in report order, with their label and unit. */
export const METRICS: readonly { key: string; label: string; digits: number }[] = [
  { key: 'tps1', label: 'select-only TPS, 1 client', digits: 0 },
  { key: 'tps8', label: 'select-only TPS, 8 clients', digits: 0 },
  { key: 'tps32', label: 'select-only TPS, 32 clients', digits: 0 },
  { key: 'p50', label: 'latency p50, 1 client (µs)', digits: 0 },
  { key: 'p99', label: 'latency p99, 1 client (µs)', digits: 0 },
  { key: 'cpu8', label: 'middle-process CPU per transaction, 8 clients (µs)', digits: 1 },
  { key: 'cpu8User', label: '… of which user space (µs)', digits: 1 },
  { key: 'cpu8System', label: '… of which kernel (µs)', digits: 1 },
  { key: 'tps8Extended', label: 'select-only TPS, 8 clients, -M extended', digits: 0 },
  { key: 'cpu8Extended', label: 'middle-process CPU per transaction, 8 clients, -M extended (µs)', digits: 1 },
  { key: 'cpu8ExtendedUser', label: '… of which user space (µs)', digits: 1 },
  { key: 'tps8Prepared', label: 'select-only TPS, 8 clients, -M prepared', digits: 0 },
  { key: 'cpu8Prepared', label: 'middle-process CPU per transaction, 8 clients, -M prepared (µs)', digits: 1 },
  { key: 'cpu8PreparedUser', label: '… of which user space (µs)', digits: 1 },
  { key: 'connTps1', label: 'new connection per transaction (-C), 1 client, TPS', digits: 0 },
  { key: 'connMs', label: 'new connection + transaction (-C), 1 client (ms)', digits: 2 },
  { key: 'connTps8', label: 'new connections/s (-C), 8 clients', digits: 0 },
  { key: 'copyOut', label: 'COPY TO STDOUT (MB/s)', digits: 0 },
  { key: 'copyIn', label: 'COPY FROM STDIN (MB/s)', digits: 0 },
];

/** Median of a sample list. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function cell(values: readonly number[] | undefined, digits: number): string {
  if (!values || values.length === 0 || values.every((v) => !Number.isFinite(v))) return '–';
  const f = (v: number): string => v.toFixed(digits);
  return `${f(median(values))} (${f(Math.min(...values))}–${f(Math.max(...values))})`;
}

/** One target's verdict. */
interface Verdict { target: string; measured: string; met: boolean | undefined }

function verdicts(r: BenchResults): Verdict[] {
  const m = (path: string, key: string): number => median(r.paths[path]?.samples[key] ?? []);
  const has = (path: string): boolean => path in r.paths;
  const out: Verdict[] = [];
  const cmp = (target: string, a: number, b: number, ok: (a: number, b: number) => boolean, text: string): void => {
    out.push({ target, measured: Number.isFinite(a) && Number.isFinite(b) ? text : 'not measured', met: Number.isFinite(a) && Number.isFinite(b) ? ok(a, b) : undefined });
  };
  if (has('pgbouncer')) {
    cmp('CPU per select-only transaction ≤ PgBouncer\'s', m('dsql-proxy', 'cpu8'), m('pgbouncer', 'cpu8'), (a, b) => a <= b,
      `${m('dsql-proxy', 'cpu8').toFixed(1)} µs vs ${m('pgbouncer', 'cpu8').toFixed(1)} µs (${(m('dsql-proxy', 'cpu8') / m('pgbouncer', 'cpu8')).toFixed(2)}×)`);
    cmp('TPS at 8 clients ≥ PgBouncer\'s', m('dsql-proxy', 'tps8'), m('pgbouncer', 'tps8'), (a, b) => a >= b,
      `${m('dsql-proxy', 'tps8').toFixed(0)} vs ${m('pgbouncer', 'tps8').toFixed(0)} (${(m('dsql-proxy', 'tps8') / m('pgbouncer', 'tps8')).toFixed(2)}×)`);
  }
  cmp('added p50 latency at 1 client ≤ 50 µs over direct', m('dsql-proxy', 'p50'), m('direct', 'p50'), (a, b) => a - b <= 50,
    `${(m('dsql-proxy', 'p50') - m('direct', 'p50')).toFixed(0)} µs`);
  for (const key of ['copyOut', 'copyIn']) {
    cmp(`${key === 'copyOut' ? 'COPY TO STDOUT' : 'COPY FROM STDIN'} ≥ 90 % of direct`, m('dsql-proxy', key), m('direct', key), (a, b) => a >= 0.9 * b,
      `${((100 * m('dsql-proxy', key)) / m('direct', key)).toFixed(0)} %`);
  }
  if (has('dsql-proxy+metrics')) {
    const cost = (key: string): number => m('dsql-proxy+metrics', key) / m('dsql-proxy', key);
    cmp('metrics (--http-listen, scraped every second) add no measurable relay CPU (≤ 5 %)', m('dsql-proxy+metrics', 'cpu8'), m('dsql-proxy', 'cpu8'),
      (a, b) => a <= 1.05 * b,
      `CPU per transaction ${m('dsql-proxy+metrics', 'cpu8').toFixed(1)} µs vs ${m('dsql-proxy', 'cpu8').toFixed(1)} µs (${(100 * (cost('cpu8') - 1)).toFixed(1)} %); `
      + `TPS at 8 clients ${(100 * (cost('tps8') - 1)).toFixed(1)} %; COPY out ${(100 * (cost('copyOut') - 1)).toFixed(1)} %`);
  }
  if (has(NO_COMPAT)) {
    // Issue 12 ("Cost"): the layer on (the plain column) against off, per protocol pgbench measured.
    const rows = [['simple', 'cpu8'], ['-M extended', 'cpu8Extended'], ['-M prepared', 'cpu8Prepared']]
      .map(([label, key]) => ({ label: label!, on: m('dsql-proxy', key!), off: m(NO_COMPAT, key!) }))
      .filter((row) => Number.isFinite(row.on) && Number.isFinite(row.off));
    out.push({ target: 'SQL compatibility layer adds ≤ 5 % CPU per transaction (dsql-proxy vs --no-sql-compat)',
      measured: rows.length === 0 ? 'not measured'
        : rows.map((row) => `${row.label} ${row.on.toFixed(1)} vs ${row.off.toFixed(1)} µs (${signed(100 * (row.on / row.off - 1))} %)`).join('; '),
      met: rows.length === 0 ? undefined : rows.every((row) => row.on <= 1.05 * row.off) });
  }
  cmp('new-connection latency ≤ direct + 1 ms', m('dsql-proxy', 'connMs'), m('direct', 'connMs'), (a, b) => a <= b + 1,
    `${m('dsql-proxy', 'connMs').toFixed(2)} ms vs ${m('direct', 'connMs').toFixed(2)} ms`);
  if (has('dsql-proxy+scram')) {
    const added = (path: string): string => `+${(m(path, 'connMs') - m('dsql-proxy', 'connMs')).toFixed(2)} ms`;
    cmp('SCRAM adds ≤ 5 ms to a connection', m('dsql-proxy+scram', 'connMs'), m('dsql-proxy', 'connMs'), (a, b) => a - b <= 5,
      `${added('dsql-proxy+scram')}; with a 1-iteration verifier (no client PBKDF2) ${added('dsql-proxy+scram-i1')}; `
      + `SCRAM-SHA-256-PLUS over local TLS ${added('dsql-proxy+tls+scram')}`);
  }
  cmp('≥ 500 new connections/s sustained', m('dsql-proxy', 'connTps8'), 500, (a, b) => a >= b, `${m('dsql-proxy', 'connTps8').toFixed(0)}/s`);
  const last = r.paths['dsql-proxy']?.memory.at(-1);
  // A process here may hold RLIMIT_NOFILE descriptors, two per session: meta.maxSessions is the most measurable.
  const reachable = Math.min(10_000, Number(r.meta.maxSessions ?? 10_000));
  out.push({ target: '≤ 48 KiB RSS per idle session at 10,000 sessions',
    measured: last ? `${(last.bytesPerSession / 1024).toFixed(1)} KiB at ${last.sessions}${last.sessions < 10_000 ? ` (the most this machine's descriptor limit allows)` : ''}` : 'not measured',
    met: last ? last.sessions >= reachable && last.bytesPerSession <= 48 * 1024 : undefined });
  return out;
}

function signed(value: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(1)}`;
}

/** The Markdown report: environment, the side-by-side table, idle-session memory and the targets. */
export function markdown(r: BenchResults): string {
  // A partial run (BENCH_ONLY) leaves some paths without a figure: no empty columns for them.
  const paths = Object.keys(r.paths).filter((p) => Object.keys(r.paths[p]!.samples).length > 0 || r.paths[p]!.memory.length > 0);
  const measured = METRICS.filter((metric) => paths.some((p) => (r.paths[p]!.samples[metric.key] ?? []).length > 0));
  const withMemory = paths.filter((p) => r.paths[p]!.memory.length);
  const lines = [
    `Run ${r.meta.date} on ${r.meta.machine}; Node ${r.meta.node}, ${r.meta.postgres}, ${r.meta.pgbouncer}; commit ${r.meta.commit}.`,
    `Command: \`${r.meta.command}\` (${r.meta.rounds} alternating rounds of ${r.meta.seconds} s per pgbench run; COPY ${r.meta.copyMb} MB).`,
    'Figures: median (min–max) over the rounds.',
    '',
    `| metric | ${paths.join(' | ')} |`,
    `|---|${paths.map(() => '---').join('|')}|`,
    ...measured.map((metric) => `| ${metric.label} | ${paths.map((p) => cell(r.paths[p]!.samples[metric.key], metric.digits)).join(' | ')} |`),
  ];
  if (withMemory.length > 0) {
    lines.push('', '| idle authenticated sessions | ' + withMemory.map((p) => `${p} RSS | ${p} bytes/session`).join(' | ') + ' |',
      '|---|' + withMemory.map(() => '---|---').join('|') + '|');
  }
  const sizes = [...new Set(paths.flatMap((p) => r.paths[p]!.memory.map((m) => m.sessions)))];
  for (const n of sizes) {
    lines.push(`| ${n} | ` + withMemory.map((p) => {
      const m = r.paths[p]!.memory.find((x) => x.sessions === n);
      return m ? `${(m.rssBytes / 1048576).toFixed(0)} MiB | ${(m.bytesPerSession / 1024).toFixed(1)} KiB` : '– | –';
    }).join(' | ') + ' |');
  }
  const floor = r.nodeFloor ?? [];
  if (floor.length > 0) {
    const total = floor.map((f) => f.user + f.system);
    lines.push('', `Node floor: the same relay between two plain sockets (no TLS, no login), pgbench -S with 8 clients straight to `
      + `PostgreSQL, costs ${cell(total, 1)} µs of CPU per transaction (user ${cell(floor.map((f) => f.user), 1)}, `
      + `kernel ${cell(floor.map((f) => f.system), 1)}).`);
  }
  lines.push('', '| target | measured | met |', '|---|---|---|',
    ...verdicts(r).map((v) => `| ${v.target} | ${v.measured} | ${v.met === undefined ? '–' : v.met ? 'yes' : 'no'} |`));
  return lines.join('\n') + '\n';
}
