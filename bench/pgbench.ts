import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How pgbench reaches the server: a libpq connection string plus environment (e.g. PGPASSWORD). */
export interface Target {
  readonly conninfo: string;
  readonly env: Record<string, string>;
}

/** What one pgbench run reported. */
export interface PgbenchResult {
  readonly tps: number;
  readonly transactions: number;
  readonly failed: number;
  /** Per-transaction latencies in µs (only with `latencies`). */
  readonly latenciesUs: number[];
}

/** Runs a command and resolves with its stdout, rejecting with its stderr on a non-zero exit. */
export function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-8192); });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`))));
  });
}

/** Environment for client tools: the target's settings, nothing inherited from PG* variables. */
export function toolEnv(target: Target): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  return { ...env, ...target.env };
}

/** pgbench's query protocols (-M): one Query message, or Parse/Bind/Describe/Execute/Sync per statement, or Parse once per connection. */
export type Protocol = 'simple' | 'extended' | 'prepared';

/**
 * Runs pgbench select-only for `seconds` with `clients` over `protocol` (simple unless given); `connectEach` adds -C;
 * `latencies` collects a per-transaction log.
 */
export async function pgbench(target: Target, options: { clients: number; seconds: number; protocol?: Protocol; connectEach?: boolean; latencies?: boolean }): Promise<PgbenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'dsql-proxy-bench-'));
  try {
    const args = ['-n', '-S', '-M', options.protocol ?? 'simple', '-c', String(options.clients), '-j', String(Math.min(options.clients, 2)), '-T', String(options.seconds),
      ...(options.connectEach ? ['-C'] : []), ...(options.latencies ? ['-l', '--log-prefix', join(dir, 'txn')] : []), target.conninfo];
    const out = await run('pgbench', args, toolEnv(target), dir);
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1] ?? /tps = ([\d.]+)/.exec(out)?.[1]);
    const transactions = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1]);
    const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0);
    const latenciesUs = options.latencies
      ? readdirSync(dir).filter((f) => f.startsWith('txn')).flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n').map((line) => Number(line.split(' ')[2])))
      : [];
    return { tps, transactions, failed, latenciesUs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The p-th percentile (0–100) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
