import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A PostgreSQL server started for the test run. */
export interface TestPostgres {
  readonly host: string;
  readonly port: number;
  /** Superuser created by initdb; DSQL's admin role maps to it. */
  readonly adminUser: string;
  /** Directory holding initdb, pg_ctl, postgres. */
  readonly binDir: string;
  /** Data and socket directory. */
  readonly dir: string;
}

const RUN_AS = 'postgres';

/** Finds PostgreSQL server binaries: PATH, then `pg_config --bindir`, then /usr/lib/postgresql/<newest>/bin. */
export function findPostgresBinDir(): string {
  const candidates: string[] = [];
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) candidates.push(dirname(realpathSync(which.stdout.trim())));
  const pgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (pgConfig.status === 0) candidates.push(pgConfig.stdout.trim());
  if (existsSync('/usr/lib/postgresql')) {
    const versions = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  }
  const found = candidates.find((dir) => ['initdb', 'pg_ctl', 'postgres'].every((b) => existsSync(join(dir, b))));
  if (!found) {
    throw new Error('PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH, via pg_config or under '
      + '/usr/lib/postgresql/*/bin. Install them, e.g. "apt-get install -y postgresql".');
  }
  return found;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const isRoot = (): boolean => process.getuid?.() === 0;

function runPg(binDir: string, tool: string, args: string[]): string {
  const [command, argv] = isRoot()
    ? ['runuser', ['-u', RUN_AS, '--', join(binDir, tool), ...args]]
    : [join(binDir, tool), args];
  return execFileSync(command, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** How a test instance differs from the run-wide one (which is plain TCP with trust auth). */
export interface PostgresOptions {
  /**
   * ssl=on with this certificate and key; with `clientCaFile`, client certificates are checked against that CA
   * (PostgreSQL's ssl_ca_file). The files are copied into the instance's directory, where the server can read them.
   */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly clientCaFile?: string };
  /**
   * pg_hba.conf lines put before initdb's trust lines, so they win (the first match decides), e.g.
   * `hostssl all all 127.0.0.1/32 cert`: TLS connections then need a client certificate whose CN is the role.
   */
  readonly hbaFirst?: readonly string[];
  /** listen_addresses; 127.0.0.1 unless set (e.g. `127.0.0.1,::1`). */
  readonly listenAddresses?: string;
}

const idOf = (flag: '-u' | '-g'): number => Number(execFileSync('id', [flag, RUN_AS], { encoding: 'utf8' }));

/** Hands a path the server must read to the user it runs as (root starts it as postgres). */
function giveToServer(path: string): void {
  if (isRoot()) chownSync(path, idOf('-u'), idOf('-g'));
}

/** Copies the TLS files into `dir` (the server refuses a key others can read) and returns the settings naming them. */
function tlsSettings(dir: string, tls: NonNullable<PostgresOptions['tls']>): string[] {
  const tlsDir = join(dir, 'tls');
  mkdirSync(tlsDir, { mode: 0o700 });
  giveToServer(tlsDir);
  const files = { ssl_cert_file: tls.certFile, ssl_key_file: tls.keyFile, ...(tls.clientCaFile ? { ssl_ca_file: tls.clientCaFile } : {}) };
  return ['-c ssl=on', ...Object.entries(files).map(([setting, source]) => {
    const target = join(tlsDir, `${setting}.pem`);
    copyFileSync(source, target);
    chmodSync(target, 0o600);
    giveToServer(target);
    return `-c ${setting}=${target}`;
  })];
}

/**
 * initdb into a temp directory, start on a free loopback port with trust auth, create the test roles. With
 * `options`, a TLS-enabled instance of its own (the caller stops it).
 */
export async function startPostgres(options: PostgresOptions = {}): Promise<TestPostgres> {
  const binDir = findPostgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'dsql-proxy-pg-'));
  // The server refuses to run as root, so as root everything runs as the postgres user.
  giveToServer(dir);
  const data = join(dir, 'data');
  const adminUser = 'admin';
  try {
    runPg(binDir, 'initdb', ['-D', data, '-U', adminUser, '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C']);
    if (options.hbaFirst?.length) {
      const hba = join(data, 'pg_hba.conf');
      writeFileSync(hba, `${options.hbaFirst.join('\n')}\n${readFileSync(hba, 'utf8')}`);
    }
    const port = await freePort();
    const settings = [`-p ${port}`, `-k ${dir}`, `-c listen_addresses=${options.listenAddresses ?? '127.0.0.1'}`, '-c fsync=off',
      '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=300',
      ...(options.tls ? tlsSettings(dir, options.tls) : [])].join(' ');
    runPg(binDir, 'pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', settings, 'start']);
    const pg = { host: '127.0.0.1', port, adminUser, binDir, dir };
    // Plain TCP, so hbaFirst's hostssl lines (client certificates) leave the setup to initdb's trust lines.
    execFileSync('psql', ['-X', '-q', '-h', pg.host, '-p', String(port), '-U', adminUser, '-d', 'postgres',
      '-c', 'create role app_reader login; grant pg_read_all_data to app_reader;'], { stdio: 'pipe', env: { ...process.env, PGSSLMODE: 'disable' } });
    return pg;
  } catch (error) {
    // A server that would not start says why only in its log, which goes with the directory: keep its words.
    const log = existsSync(join(dir, 'server.log')) ? readFileSync(join(dir, 'server.log'), 'utf8').trim().split('\n').slice(-5).join('\n') : '';
    stopPostgres({ host: '127.0.0.1', port: 0, adminUser, binDir, dir });
    throw log ? new Error(`PostgreSQL did not start: ${log}`, { cause: error }) : error;
  }
}

/** Stops the server and removes its directory. */
export function stopPostgres(pg: TestPostgres): void {
  try {
    if (existsSync(join(pg.dir, 'data', 'postmaster.pid'))) runPg(pg.binDir, 'pg_ctl', ['-D', join(pg.dir, 'data'), '-m', 'immediate', '-w', 'stop']);
  } finally {
    rmSync(pg.dir, { recursive: true, force: true });
  }
}
