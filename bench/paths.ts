import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTokenProvider } from '../src/aws/token.js';
import { freePort } from '../test/support/postgres.js';
import { startProcess, type BenchProcess } from './processes.js';
import type { Target } from './pgbench.js';

/** Names and credentials the bench's emulator knows. */
export interface BenchCluster {
  readonly clusterId: string;
  readonly serviceIdentifier: string;
  readonly region: string;
  readonly emulatorPort: number;
  readonly caFile: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** The bench-only static password the emulator accepts (PgBouncer cannot sign tokens). */
  readonly staticPassword: string;
}

/** One way from pgbench to the emulator. */
export interface BenchPath {
  readonly name: 'direct' | 'dsql-proxy' | 'pgbouncer' | 'dsql-proxy+scram' | 'dsql-proxy+scram-i1' | 'dsql-proxy+tls+scram' | 'dsql-proxy+metrics'
    | 'dsql-proxy --no-sql-compat';
  /** The process in the middle, whose CPU and memory are measured (none for direct). */
  readonly pid: number | undefined;
  target(): Promise<Target>;
  stop(): Promise<void>;
}

/** libpq straight to the emulator with TLS verify-full, as a user with private DNS would, and a fresh token. */
export function directPath(cluster: BenchCluster): BenchPath {
  const hostname = `${cluster.clusterId}.${cluster.serviceIdentifier}.${cluster.region}.on.aws`;
  const tokens = createTokenProvider({ hostname, region: cluster.region, expiresInSeconds: 900, credentials: async () => ({ ...cluster.credentials }) });
  return {
    name: 'direct',
    pid: undefined,
    target: async () => ({
      conninfo: `host=${hostname} hostaddr=127.0.0.1 port=${cluster.emulatorPort} sslmode=verify-full sslrootcert=${cluster.caFile} user=admin dbname=postgres`,
      env: { PGPASSWORD: await tokens.token('admin') },
    }),
    stop: async () => undefined,
  };
}

/** How a proxy path's clients connect when it is not the plain loopback default. */
export interface ClientSide {
  readonly name: BenchPath['name'];
  /** Extra conninfo keywords (e.g. sslmode=require). */
  readonly conninfo: string;
  readonly env: Record<string, string>;
}

/** pgbench → dsql-proxy (the CLI, as users run it) → emulator. */
export async function proxyPath(cluster: BenchCluster, extraArgs: readonly string[] = [], client?: ClientSide): Promise<BenchPath> {
  const port = await freePort();
  const proc = await startProcess(process.execPath, [...(process.env.BENCH_PROXY_NODE_ARGS ? process.env.BENCH_PROXY_NODE_ARGS.split(' ') : []), 'bin/dsql-proxy.js', '--cluster-id', cluster.clusterId,
    '--endpoint', `127.0.0.1:${cluster.emulatorPort}`, '--region', cluster.region, '--service-identifier', cluster.serviceIdentifier,
    '--ca-file', cluster.caFile, '--listen', `127.0.0.1:${port}`, ...extraArgs], /dsql-proxy listening/, {
    ...process.env, AWS_ACCESS_KEY_ID: cluster.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: cluster.credentials.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  return {
    name: client?.name ?? 'dsql-proxy',
    pid: proc.pid,
    target: async () => ({
      conninfo: `host=127.0.0.1 port=${port} user=admin dbname=postgres ${client?.conninfo ?? 'sslmode=disable'}`, env: client?.env ?? {},
    }),
    stop: () => proc.stop(),
  };
}

/** pgbench → PgBouncer (session mode, TLS to the server) → emulator; undefined when pgbouncer is not installed. */
export async function pgbouncerPath(cluster: BenchCluster): Promise<BenchPath | undefined> {
  const binary = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => { try { readFileSync(p); return true; } catch { return false; } });
  if (!binary) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'dsql-proxy-pgbouncer-'));
  const port = await freePort();
  writeFileSync(join(dir, 'users.txt'), '"admin" ""\n');
  writeFileSync(join(dir, 'ca.crt'), readFileSync(cluster.caFile));
  // verify-ca, not verify-full: PgBouncer dials 127.0.0.1 and would check the certificate against that.
  writeFileSync(join(dir, 'pgbouncer.ini'), [
    '[databases]',
    `postgres = host=127.0.0.1 port=${cluster.emulatorPort} dbname=postgres user=admin password=${cluster.staticPassword}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1', `listen_port = ${port}`, 'unix_socket_dir =',
    'auth_type = trust', `auth_file = ${join(dir, 'users.txt')}`, 'pool_mode = session',
    'max_client_conn = 20000', 'default_pool_size = 20000', 'max_db_connections = 0',
    'server_tls_sslmode = verify-ca', `server_tls_ca_file = ${join(dir, 'ca.crt')}`,
    'ignore_startup_parameters = extra_float_digits,options', `pidfile = ${join(dir, 'pgbouncer.pid')}`,
    'log_connections = 1', 'log_disconnections = 1',
  ].join('\n') + '\n');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    for (const f of ['', 'users.txt', 'ca.crt', 'pgbouncer.ini']) chownSync(join(dir, f), uid, gid);
  }
  const proc: BenchProcess = asRoot
    // runuser resets the descriptor limit; raise it again for the idle-session figures.
    ? await startProcess('runuser', ['-u', 'postgres', '--', 'sh', '-c', `ulimit -n "$(ulimit -Hn)"; exec ${binary} ${join(dir, 'pgbouncer.ini')}`], /process up/)
    : await startProcess(binary, [join(dir, 'pgbouncer.ini')], /process up/);
  const pid = Number(readFileSync(join(dir, 'pgbouncer.pid'), 'utf8'));
  return {
    name: 'pgbouncer',
    pid,
    target: async () => ({ conninfo: `host=127.0.0.1 port=${port} user=admin dbname=postgres sslmode=disable`, env: {} }),
    stop: async () => { process.kill(pid, 'SIGTERM'); await proc.stop(); },
  };
}

/** The PgBouncer version line, or undefined. */
export function pgbouncerVersion(): string | undefined {
  try {
    return execFileSync('pgbouncer', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  } catch {
    try { return execFileSync('/usr/sbin/pgbouncer', ['--version'], { encoding: 'utf8' }).split('\n')[0]; } catch { return undefined; }
  }
}
