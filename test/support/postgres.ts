import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
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

/** initdb into a temp directory, start on a free loopback port with trust auth, create the test roles. */
export async function startPostgres(): Promise<TestPostgres> {
  const binDir = findPostgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'dsql-proxy-pg-'));
  // The server refuses to run as root, so as root everything runs as the postgres user.
  if (isRoot()) chownSync(dir, Number(execFileSync('id', ['-u', RUN_AS], { encoding: 'utf8' })), Number(execFileSync('id', ['-g', RUN_AS], { encoding: 'utf8' })));
  const data = join(dir, 'data');
  const adminUser = 'admin';
  runPg(binDir, 'initdb', ['-D', data, '-U', adminUser, '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C']);
  const port = await freePort();
  const options = [`-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', '-c fsync=off',
    '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=300'].join(' ');
  runPg(binDir, 'pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', options, 'start']);
  const pg = { host: '127.0.0.1', port, adminUser, binDir, dir };
  execFileSync('psql', ['-X', '-q', '-h', pg.host, '-p', String(port), '-U', adminUser, '-d', 'postgres',
    '-c', 'create role app_reader login; grant pg_read_all_data to app_reader;'], { stdio: 'pipe' });
  return pg;
}

/** Stops the server and removes its directory. */
export function stopPostgres(pg: TestPostgres): void {
  try {
    runPg(pg.binDir, 'pg_ctl', ['-D', join(pg.dir, 'data'), '-m', 'immediate', '-w', 'stop']);
  } finally {
    rmSync(pg.dir, { recursive: true, force: true });
  }
}
