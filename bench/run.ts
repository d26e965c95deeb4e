import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueServerCert, makeCa } from '../test/support/certs.js';
import { DsqlEmulator } from '../test/support/emulator.js';
import { findPostgresBinDir, freePort, startPostgres, stopPostgres } from '../test/support/postgres.js';
import { copyIn, copyOut, makeCopyFile } from './copy.js';
import { IdleSessions } from './idle.js';
import { directPath, pgbouncerPath, pgbouncerVersion, proxyPath, type BenchCluster, type BenchPath } from './paths.js';
import { percentile, pgbench, run, type PgbenchResult, type Protocol, type Target } from './pgbench.js';
import { cpuTimes, rssBytes, startProcess, type CpuTimes } from './processes.js';
import { markdown, type BenchResults, type PathFigures } from './report.js';
import { bastionPaths } from './bastion.js';
import { metricsPath } from './metrics.js';
import { COMPAT_PATHS, COMPAT_PROTOCOLS, noCompatPath, protocolSuffix } from './sql-compat.js';

/**
 * `npm run bench`: PostgreSQL and the DSQL endpoint emulator from test/support, then pgbench through each
 * path (direct TLS, dsql-proxy, PgBouncer), alternating the paths within every round. Writes BENCHMARKS.md
 * (between its markers) and bench/results/latest.json. Loopback only.
 */

const settings = {
  seconds: Number(process.env.BENCH_SECONDS ?? 5),
  rounds: Number(process.env.BENCH_ROUNDS ?? 3),
  copyMb: Number(process.env.BENCH_COPY_MB ?? 1024),
  sessions: (process.env.BENCH_SESSIONS ?? '1000,5000,10000').split(',').map(Number).filter((n) => n > 0),
  only: process.env.BENCH_ONLY?.split(',') ?? [],
};
/** BENCH_ONLY's parts; compat is the SQL compatibility layer's A/B (dsql-proxy against --no-sql-compat, issue 12). */
const PARTS = ['select', 'copy', 'connect', 'memory', 'compat'];
const unknownParts = settings.only.filter((part) => !PARTS.includes(part));
if (unknownParts.length > 0) {
  // A typo would otherwise run nothing and still replace the report.
  process.stderr.write(`[bench] BENCH_ONLY: unknown part(s) ${unknownParts.join(', ')}; known: ${PARTS.join(', ')}\n`);
  process.exit(2);
}
/**
 * A proxy holds two sockets per session, and a process here may open at most RLIMIT_NOFILE (hard) descriptors,
 * so the largest idle-session count measurable is about half of that.
 */
const maxSessions = Math.floor(((Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim()) || 1_000_000) - 200) / 2);
const wanted = (part: string): boolean => settings.only.length === 0 || settings.only.includes(part);
/** Only the layer's A/B: the direct and PgBouncer columns would measure nothing and only skew the alternation. */
const compatOnly = settings.only.length > 0 && settings.only.every((part) => part === 'compat');
const log = (text: string): void => { process.stderr.write(`[bench] ${text}\n`); };

const CREDENTIALS = { accessKeyId: 'AKIDDSQLPROXYBENCH01', secretAccessKey: 'bench/secret/key/not/real/0000000000000' };
const CLUSTER = { clusterId: 'benchbenchbenchbenchbench1', serviceIdentifier: 'dsql-bench', region: 'us-east-1' };

async function main(): Promise<void> {
  const pg = await startPostgres();
  const ca = makeCa('dsql-proxy bench CA');
  const identity = issueServerCert(ca, [`*.${CLUSTER.serviceIdentifier}.${CLUSTER.region}.on.aws`, `*.dsql.${CLUSTER.region}.on.aws`]);
  const staticLogin = { password: 'bench-static-password', cluster: CLUSTER.clusterId };
  const emulatorOptions = {
    postgres: pg, identity, region: CLUSTER.region, serviceIdentifier: CLUSTER.serviceIdentifier, clusters: [CLUSTER.clusterId],
    secrets: new Map([[CREDENTIALS.accessKeyId, CREDENTIALS.secretAccessKey]]), benchOnlyStaticLogin: staticLogin,
  };
  const emulator = new DsqlEmulator(emulatorOptions);
  const cluster: BenchCluster = { ...CLUSTER, emulatorPort: await emulator.start(), caFile: ca.certFile, credentials: CREDENTIALS, staticPassword: staticLogin.password };
  const paths: BenchPath[] = [...(compatOnly ? [] : [directPath(cluster)]), await proxyPath(cluster)];
  if (wanted('select') || wanted('compat')) paths.push(await noCompatPath(cluster));
  if (wanted('select') || wanted('copy')) paths.push(await metricsPath(cluster));
  const bouncer = compatOnly ? undefined : await pgbouncerPath(cluster);
  if (bouncer) paths.push(bouncer);
  else if (!compatOnly) log('pgbouncer not installed: its column is skipped (Debian: apt-get install -y pgbouncer)');

  const figures: Record<string, PathFigures> = Object.fromEntries(paths.map((p) => [p.name, { samples: {}, memory: [] }]));
  const floor: CpuTimes[] = [];
  const record = (path: BenchPath, key: string, value: number): void => {
    ((figures[path.name] ??= { samples: {}, memory: [] }).samples[key] ??= []).push(value);
  };
  /** pgbench -S through `path`; at 8 clients also the middle process's CPU per transaction, keyed by protocol. */
  const selectOnly = async (round: number, path: BenchPath, target: Target, clients: number, protocol: Protocol = 'simple'): Promise<PgbenchResult> => {
    const before = path.pid ? cpuTimes(path.pid) : undefined;
    const result = await pgbench(target, { clients, seconds: settings.seconds, protocol, latencies: clients === 1 });
    if (result.failed > 0) throw new Error(`${path.name}: ${result.failed} failed transactions`);
    const suffix = protocolSuffix(protocol);
    record(path, `tps${clients}${suffix}`, result.tps);
    if (clients === 8 && path.pid && before) {
      const after = cpuTimes(path.pid);
      record(path, `cpu8${suffix}`, (after.user + after.system - before.user - before.system) / result.transactions);
      record(path, `cpu8${suffix}User`, (after.user - before.user) / result.transactions);
      record(path, `cpu8${suffix}System`, (after.system - before.system) / result.transactions);
    }
    log(`round ${round + 1} ${path.name} -S -M ${protocol} ${clients} clients: ${result.tps.toFixed(0)} tps`);
    return result;
  };

  log('pgbench -i -s 10 (directly on PostgreSQL)');
  await run('pgbench', ['-i', '-q', '-s', '10', `host=${pg.host} port=${pg.port} user=admin dbname=postgres`], process.env);
  const copyFile = join(tmpdir(), 'dsql-proxy-bench-copy.txt');
  const copyBytes = settings.copyMb * 1e6;
  if (wanted('copy')) await makeCopyFile(copyFile, copyBytes);

  for (let round = 0; round < settings.rounds; round++) {
    // Rotate the order every round so no path always runs first (warm caches) or last.
    const order = paths.map((_, i) => paths[(i + round) % paths.length]!);
    for (const path of order) {
      const target = await path.target();
      if (wanted('select')) {
        for (const clients of [1, 8, 32]) {
          const result = await selectOnly(round, path, target, clients);
          if (clients === 1) {
            record(path, 'p50', percentile(result.latenciesUs, 50));
            record(path, 'p99', percentile(result.latenciesUs, 99));
          }
        }
      }
      if (wanted('compat') && COMPAT_PATHS.includes(path.name)) {
        // The select part has just measured the simple protocol at 8 clients on this path.
        for (const protocol of COMPAT_PROTOCOLS.filter((p) => !(p === 'simple' && wanted('select')))) await selectOnly(round, path, target, 8, protocol);
      }
      if (wanted('copy')) {
        record(path, 'copyOut', await copyOut(await path.target(), copyBytes));
        record(path, 'copyIn', await copyIn(await path.target(), copyFile, copyBytes));
        log(`round ${round + 1} ${path.name} COPY: out ${figures[path.name]!.samples.copyOut!.at(-1)!.toFixed(0)} MB/s, in ${figures[path.name]!.samples.copyIn!.at(-1)!.toFixed(0)} MB/s`);
      }
    }
  }
  if (existsSync(copyFile)) rmSync(copyFile);

  // The Node floor: the same relay without TLS or login, pgbench straight through it to PostgreSQL.
  if (wanted('select')) {
    const port = await freePort();
    const plain = await startProcess(process.execPath, [new URL('./plain-relay.js', import.meta.url).pathname, String(port), String(pg.port)], /listening/);
    const target = { conninfo: `host=127.0.0.1 port=${port} user=admin dbname=postgres sslmode=disable`, env: {} };
    for (let round = 0; round < settings.rounds; round++) {
      const before = cpuTimes(plain.pid);
      const result = await pgbench(target, { clients: 8, seconds: settings.seconds });
      const after = cpuTimes(plain.pid);
      floor.push({ user: (after.user - before.user) / result.transactions, system: (after.system - before.system) / result.transactions });
      log(`round ${round + 1} plain Node relay -S 8 clients: ${result.tps.toFixed(0)} tps`);
    }
    await plain.stop();
  }
  for (const path of paths) await path.stop();
  await emulator.stop();

  // Connection set-up and idle memory: a backendless emulator process completes logins and answers queries
  // itself, so the figures are the paths' own cost, not a PostgreSQL fork per connection.
  if (wanted('connect') || wanted('memory')) {
    writeFileSync(join(ca.dir, 'bench-server.crt'), identity.cert);
    writeFileSync(join(ca.dir, 'bench-server.key'), identity.key);
    const backendless = await startProcess(process.execPath, [new URL('./backendless-emulator.js', import.meta.url).pathname], /port \d+/, {
      ...process.env,
      BENCH_EMULATOR: JSON.stringify({
        certFile: join(ca.dir, 'bench-server.crt'), keyFile: join(ca.dir, 'bench-server.key'), region: CLUSTER.region,
        serviceIdentifier: CLUSTER.serviceIdentifier, cluster: CLUSTER.clusterId, ...CREDENTIALS, staticPassword: staticLogin.password,
      }),
    });
    const lightCluster = { ...cluster, emulatorPort: Number(/port (\d+)/.exec(backendless.output())![1]) };
    log(`backendless emulator on port ${lightCluster.emulatorPort}`);
    const lightPaths = [directPath(lightCluster), await proxyPath(lightCluster), await pgbouncerPath(lightCluster)].filter((p): p is BenchPath => p !== undefined);
    if (wanted('connect')) lightPaths.push(...await bastionPaths(lightCluster, ca.dir, identity));
    log(`paths up: ${lightPaths.map((p) => p.name).join(', ')}`);
    if (wanted('connect')) {
      for (let round = 0; round < settings.rounds; round++) {
        for (const path of lightPaths.map((_, i) => lightPaths[(i + round) % lightPaths.length]!)) {
          const one = await pgbench(await path.target(), { clients: 1, seconds: settings.seconds, connectEach: true });
          record(path, 'connTps1', one.tps);
          // pgbench's per-transaction latency leaves the connection out; one client in sequence makes 1/TPS the full cost.
          record(path, 'connMs', 1000 / one.tps);
          const eight = await pgbench(await path.target(), { clients: 8, seconds: settings.seconds, connectEach: true });
          record(path, 'connTps8', eight.tps);
          log(`round ${round + 1} ${path.name} -C: ${one.tps.toFixed(0)} tps at 1 client, ${eight.tps.toFixed(0)} at 8`);
        }
      }
    }
    if (wanted('memory')) {
      for (const path of lightPaths.filter((p) => p.pid !== undefined && !p.name.includes('+'))) {
        const sessions = new IdleSessions(Number(/port=(\d+)/.exec((await path.target()).conninfo)![1]));
        await sessions.growTo(50); // warm-up: code paths loaded, pools allocated
        await new Promise((r) => setTimeout(r, 1000));
        const baseline = rssBytes(path.pid!);
        for (const wantedSessions of settings.sessions) {
          const n = Math.min(wantedSessions, maxSessions);
          await sessions.growTo(n);
          await new Promise((r) => setTimeout(r, 2000));
          const rss = rssBytes(path.pid!);
          figures[path.name]!.memory.push({ sessions: n, rssBytes: rss, bytesPerSession: (rss - baseline) / (n - 50) });
          log(`${path.name}: ${n} idle sessions, RSS ${(rss / 1048576).toFixed(0)} MiB`);
        }
        await sessions.closeAll();
      }
    }
    for (const path of lightPaths) await path.stop();
    await backendless.stop();
  }
  stopPostgres(pg);

  const results: BenchResults = {
    meta: {
      date: new Date().toISOString(),
      machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
      node: process.version,
      postgres: execFileSync(join(findPostgresBinDir(), 'postgres'), ['--version'], { encoding: 'utf8' }).trim(),
      pgbouncer: pgbouncerVersion() ?? 'PgBouncer not installed',
      commit: gitCommit(),
      command: [...['BENCH_ONLY', 'BENCH_ROUNDS', 'BENCH_SECONDS', 'BENCH_COPY_MB', 'BENCH_SESSIONS'].flatMap((k) => (process.env[k] ? [`${k}=${process.env[k]}`] : [])), 'npm run bench'].join(' '),
      rounds: settings.rounds,
      seconds: settings.seconds,
      copyMb: settings.copyMb,
      maxSessions: Math.floor(maxSessions),
    },
    paths: figures,
    nodeFloor: floor,
  };
  const report = markdown(results);
  process.stdout.write(report);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/latest.json', JSON.stringify(results, null, 2) + '\n');
  writeBenchmarksMd(report);
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const BEGIN = '<!-- bench:begin (written by npm run bench) -->';
const END = '<!-- bench:end -->';

/** Replaces the generated part of BENCHMARKS.md, keeping the hand-written analysis around it. */
function writeBenchmarksMd(report: string): void {
  const file = 'BENCHMARKS.md';
  const current = existsSync(file) ? readFileSync(file, 'utf8') : `# Benchmarks\n\n${BEGIN}\n${END}\n`;
  const start = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  const next = start >= 0 && end > start
    ? `${current.slice(0, start + BEGIN.length)}\n${report}${current.slice(end)}`
    : `${current}\n${BEGIN}\n${report}${END}\n`;
  writeFileSync(file, next);
}

main().catch((error: unknown) => {
  process.stderr.write(`[bench] failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
