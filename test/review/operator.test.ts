/**
 * Review of bastion mode (issue 10), operator side: unix socket files (odd files in the way, the mode while it
 * exists, TLS rules), a relative socket directory, and the README's worked example run as written.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveAccessConfig } from '../../src/access-config.js';
import { makeScramVerifier } from '../../src/client/scram.js';
import { CLUSTER_ID, REGION, SERVICE_ID, TEST_CREDENTIALS, clientEnv, runTool, startTestProxy, useRig } from '../support/harness.js';
import { freePort } from '../support/postgres.js';
import { authFileWith, PASSWORD, useReviewFiles } from './support.js';

const rig = useRig({ proxy: false });
const files = useReviewFiles();

describe('unix sockets', () => {
  it('a symlink or a regular file where the socket goes is left alone and the proxy does not start', async () => {
    const socketDir = join(files.dir, 'sock-odd');
    mkdirSync(socketDir);
    const target = join(files.dir, 'precious.txt');
    writeFileSync(target, 'keep me');
    const port = await freePort();
    symlinkSync(target, join(socketDir, `.s.PGSQL.${port}`));
    await expect(startTestProxy(rig.emulator.port, rig.ca, { listen: `127.0.0.1:${port}`, unixSocket: socketDir, allowUnauthenticated: true }))
      .rejects.toThrow(/exists and is not a socket/);
    expect(readFileSync(target, 'utf8')).toBe('keep me');
    expect(lstatSync(join(socketDir, `.s.PGSQL.${port}`)).isSymbolicLink()).toBe(true);
    const other = await freePort();
    writeFileSync(join(socketDir, `.s.PGSQL.${other}`), 'a regular file');
    await expect(startTestProxy(rig.emulator.port, rig.ca, { listen: `127.0.0.1:${other}`, unixSocket: socketDir, allowUnauthenticated: true }))
      .rejects.toThrow(/exists and is not a socket/);
    expect(readFileSync(join(socketDir, `.s.PGSQL.${other}`), 'utf8')).toBe('a regular file');
  });

  it('the socket file is never wider than 0600 while it exists, and is removed on close', async () => {
    const socketDir = join(files.dir, 'sock-mode');
    mkdirSync(socketDir);
    const port = await freePort();
    const path = join(socketDir, `.s.PGSQL.${port}`);
    const modes: number[] = [];
    const watcher = setInterval(() => { try { modes.push(lstatSync(path).mode & 0o777); } catch { /* not yet */ } }, 0);
    const proxy = await startTestProxy(rig.emulator.port, rig.ca, { listen: `127.0.0.1:${port}`, unixSocket: socketDir, allowUnauthenticated: true });
    clearInterval(watcher);
    modes.push(lstatSync(path).mode & 0o777);
    await proxy.proxy.close();
    expect(new Set(modes)).toEqual(new Set([0o600]));
    expect(existsSync(path)).toBe(false);
  });

  // libpq never uses TLS over a unix socket: --require-tls and client certificates bind TCP clients only (as
  // PostgreSQL's hostssl does not cover local), while the password still applies to socket clients.
  it('--require-tls with --unix-socket: psql over the socket logs in with its password', async () => {
    const socketDir = join(files.dir, 'sock-tls');
    mkdirSync(socketDir);
    const file = authFileWith(files.dir, 'unix.txt', { admin: makeScramVerifier(PASSWORD) });
    const proxy = await startTestProxy(rig.emulator.port, rig.ca, { authFile: file, tlsCert: files.certFile, tlsKey: files.keyFile, requireTls: true, unixSocket: socketDir });
    try {
      const result = await runTool('psql', ['-X', '-w', '-At', '-c', 'select current_user', '-d', `host=${socketDir} port=${proxy.port} user=admin dbname=postgres`],
        { env: clientEnv({ PGPASSWORD: PASSWORD }) });
      expect(result.stdout.trim(), result.stderr).toBe('admin');
    } finally {
      await proxy.proxy.close();
    }
  });
});

describe('the README worked example, as written (addresses adapted to one machine)', () => {
  it('the certificate, passwd lines and bastion command work with psql as the client table says, flags given as DSQL_PROXY_* variables', async () => {
    const work = join(files.dir, 'readme');
    mkdirSync(work);
    const sh = (script: string, env: Record<string, string> = {}): string =>
      execFileSync('sh', ['-c', script], { cwd: work, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    const cli = `${process.execPath} ${join(process.cwd(), 'bin/dsql-proxy.js')}`;
    sh(`openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \\
      -keyout bastion.key -out bastion.crt -subj /CN=dsql-bastion.internal \\
      -addext subjectAltName=DNS:dsql-bastion.internal
    chmod 600 bastion.key`);
    sh(`printf '%s\\n' "$APP_READER_PASSWORD" | ${cli} passwd app_reader >> userlist.txt
    printf '%s\\n' "$APP_WRITER_PASSWORD" | ${cli} passwd app_writer >> userlist.txt
    chmod 600 userlist.txt`, { APP_READER_PASSWORD: 'reader-pw', APP_WRITER_PASSWORD: 'writer-pw' });
    expect(readFileSync(join(work, 'userlist.txt'), 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
    const child = spawn(process.execPath, [join(process.cwd(), 'bin/dsql-proxy.js'), '--endpoint', `127.0.0.1:${rig.emulator.port}`], {
      cwd: work,
      env: {
        PATH: process.env.PATH ?? '', HOME: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONFIG_FILE: '/nonexistent/config', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
        AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
        DSQL_PROXY_CLUSTER_ID: CLUSTER_ID, DSQL_PROXY_REGION: REGION, DSQL_PROXY_SERVICE_IDENTIFIER: SERVICE_ID, DSQL_PROXY_CA_FILE: rig.ca.certFile,
        DSQL_PROXY_LISTEN: '0.0.0.0:0', DSQL_PROXY_TLS_CERT: 'bastion.crt', DSQL_PROXY_TLS_KEY: 'bastion.key', DSQL_PROXY_REQUIRE_TLS: 'true',
        DSQL_PROXY_AUTH_FILE: 'userlist.txt', DSQL_PROXY_ALLOW_ROLES: 'app_reader,app_writer', DSQL_PROXY_ALLOW_CIDR: '127.0.0.0/8',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      for (let i = 0; i < 200 && !/"listen":"[^"]*:\d+"/.test(stderr); i++) await new Promise((r) => setTimeout(r, 25));
      const port = Number(/"listen":"[^"]*:(\d+)"/.exec(stderr)?.[1]);
      expect(port, stderr).toBeGreaterThan(0);
      expect(stderr).toMatch(/"requireTls":true/);
      const client = (user: string, password: string, extra = ''): ReturnType<typeof runTool> => runTool('psql', ['-X', '-w', '-At', '-c', 'select current_user', '-d',
        `host=dsql-bastion.internal hostaddr=127.0.0.1 port=${port} user=${user} dbname=postgres sslmode=verify-full sslrootcert=${join(work, 'bastion.crt')} ${extra}`],
      { env: clientEnv({ PGPASSWORD: password }) });
      const reader = await client('app_reader', 'reader-pw', 'channel_binding=require');
      expect(reader.stdout.trim(), reader.stderr).toBe('app_reader');
      const writer = await client('app_writer', 'writer-pw');
      // The test PostgreSQL behind the emulator has no app_writer: its own refusal shows the proxy let the client through.
      expect(writer.stderr).toContain('role "app_writer" does not exist');
      const admin = await client('admin', 'writer-pw');
      expect(admin.stderr).toContain('password authentication failed for user "admin"');
      const plain = await runTool('psql', ['-X', '-w', '-At', '-c', 'select 1', '-d', `host=127.0.0.1 port=${port} user=app_reader dbname=postgres sslmode=disable`],
        { env: clientEnv({ PGPASSWORD: 'reader-pw' }) });
      expect(plain.stderr).toContain('this proxy accepts only TLS connections (--require-tls)');
      expect(stderr).not.toContain('reader-pw');
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});

describe('--unix-socket with a relative directory', () => {
  it('is taken from the working directory and becomes absolute, the only form libpq reads as a socket directory', () => {
    const config = resolveAccessConfig({ unixSocket: 'run/dsql', allowUnauthenticated: true }, { host: '127.0.0.1', port: 5432 });
    expect(config.unixSocket?.dir).toBe(join(process.cwd(), 'run/dsql'));
  });
});
