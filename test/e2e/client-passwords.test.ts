import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeScramVerifier } from '../../src/client/scram.js';
import { issueLocalServerCert, makeCa, type TestCa } from '../support/certs.js';
import { RawClient } from '../support/raw-client.js';
import { cstring, int32, message, parseErrorFields, startupMessage } from '../support/wire.js';
import {
  clientEnv, directClient, expectNoSecrets, runTool, startTestProxy, useRig, waitForActiveQuery, type TestProxy,
} from '../support/harness.js';

const rig = useRig({ proxy: false });
const ADMIN_PASSWORD = 'correct horse battery staple';
const READER_PASSWORD = 'r3ader-Pässword';
let dir: string;
let authFile: string;
let localCa: TestCa;
let certFile: string;
let keyFile: string;
let postgresVerifier: string;
let proxy: TestProxy;

/** The line PgBouncer's userlist.txt (and --auth-file) holds for a role. */
const entry = (role: string, verifier: string): string => `"${role}" "${verifier}"\n`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dsql-proxy-auth-'));
  // A verifier made by PostgreSQL itself, read back from pg_authid.
  const pg = await directClient();
  try {
    await pg.query("set password_encryption = 'scram-sha-256'");
    await pg.query('drop role if exists scram_source');
    await pg.query(`create role scram_source password '${ADMIN_PASSWORD.replace(/'/g, "''")}'`);
    postgresVerifier = (await pg.query<{ rolpassword: string }>("select rolpassword from pg_authid where rolname = 'scram_source'")).rows[0]!.rolpassword;
  } finally {
    await pg.end();
  }
  expect(postgresVerifier).toMatch(/^SCRAM-SHA-256\$4096:/);
  authFile = join(dir, 'userlist.txt');
  writeFileSync(authFile, entry('admin', postgresVerifier) + entry('app_reader', makeScramVerifier(READER_PASSWORD)));
  localCa = makeCa('dsql-proxy local test CA');
  ({ certFile, keyFile } = issueLocalServerCert(localCa));
  proxy = await startTestProxy(rig.emulator.port, rig.ca, { authFile, tlsCert: certFile, tlsKey: keyFile });
});

afterAll(async () => {
  await proxy?.proxy.close();
  if (proxy) expectNoSecrets(proxy.logs.text);
  for (const secret of [ADMIN_PASSWORD, READER_PASSWORD, postgresVerifier]) expect(proxy?.logs.text ?? '').not.toContain(secret);
  rmSync(dir, { recursive: true, force: true });
});


/** psql with PGPASSWORD (or none) and `-w` (never prompt). */
function psqlAs(user: string, password: string | undefined, conninfo = '', sql = 'select current_user'): ReturnType<typeof runTool> {
  return runTool('psql', ['-X', '-w', '-At', '-c', sql, '-d', `host=127.0.0.1 port=${proxy.port} user=${user} dbname=postgres sslmode=disable ${conninfo}`],
    { env: clientEnv(password === undefined ? {} : { PGPASSWORD: password }) });
}

describe('client passwords (--auth-file, SCRAM-SHA-256)', () => {
  it('psql logs in with a verifier PostgreSQL made (ALTER ROLE … PASSWORD, read from pg_authid)', async () => {
    const before = proxy.logs.closeCount;
    const result = await psqlAs('admin', ADMIN_PASSWORD);
    expect(result.stdout.trim(), result.stderr).toBe('admin');
    expect(await proxy.logs.closeLineWith(before, { auth: 'scram', tls: false, user: 'admin', outcome: 'relayed' })).toMatchObject({ auth: 'scram', tls: false, user: 'admin', outcome: 'relayed' });
  });

  it('psql logs in with a verifier dsql-proxy made, with a non-ASCII password', async () => {
    const result = await psqlAs('app_reader', READER_PASSWORD);
    expect(result.stdout.trim(), result.stderr).toBe('app_reader');
  });

  it.each([
    ['a wrong password', 'admin', 'not the password'],
    ['an unknown role', 'nobody', ADMIN_PASSWORD],
  ])('%s gets FATAL 28P01 "password authentication failed", after a pause, and nothing is dialed', async (_case, user, password) => {
    const before = rig.emulator.records.length;
    const closed = proxy.logs.closeCount;
    const started = Date.now();
    const result = await psqlAs(user, password);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`FATAL:  password authentication failed for user "${user}"`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    expect(rig.emulator.records.length).toBe(before);
    const line = await proxy.logs.closeLineWith(closed, { user, outcome: 'refused' });
    expect(line).toMatchObject({ tls: false });
    expect(line).not.toHaveProperty('auth'); // never authenticated
  });

  it('a client without a password cannot log in, and nothing is dialed', async () => {
    const before = rig.emulator.records.length;
    const result = await psqlAs('admin', undefined);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/no password supplied|password authentication failed/);
    expect(rig.emulator.records.length).toBe(before);
  });

  it('over TLS, channel_binding=require logs in with SCRAM-SHA-256-PLUS', async () => {
    const before = proxy.logs.closeCount;
    const result = await runTool('psql', ['-X', '-w', '-At', '-c', 'select 1', '-d',
      `host=localhost port=${proxy.port} user=admin dbname=postgres sslmode=verify-full sslrootcert=${localCa.certFile} channel_binding=require`],
    { env: clientEnv({ PGPASSWORD: ADMIN_PASSWORD }) });
    expect(result.stdout.trim(), result.stderr).toBe('1');
    expect(await proxy.logs.closeLineWith(before, { auth: 'scram-plus', tls: true })).toMatchObject({ auth: 'scram-plus', tls: true });
  });

  it('without TLS, channel_binding=require is refused by the client itself (nothing to bind to)', async () => {
    const result = await psqlAs('admin', ADMIN_PASSWORD, 'channel_binding=require');
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/channel binding/);
  });

  it('Ctrl-C in psql cancels a query of a TLS + SCRAM session', async () => {
    const child = spawn('psql', ['-X', '-w', '-d',
      `host=localhost port=${proxy.port} user=admin dbname=postgres sslmode=require sslrootcert=${localCa.certFile}`,
      '-c', 'select pg_sleep(30)'], { env: clientEnv({ PGPASSWORD: ADMIN_PASSWORD }), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await waitForActiveQuery('select pg_sleep(30)');
    const started = Date.now();
    child.kill('SIGINT');
    expect(await exited).not.toBe(0);
    expect(stderr).toContain('canceling statement due to user request');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('SIGHUP-style reload: a changed file applies to the next login, an open session carries on', async () => {
    const pg = await import('pg');
    const open = new pg.default.Client({ host: '127.0.0.1', port: proxy.port, user: 'admin', password: ADMIN_PASSWORD, database: 'postgres' });
    await open.connect();
    try {
      writeFileSync(authFile, entry('admin', makeScramVerifier('rotated-password')));
      proxy.proxy.reload();
      expect(proxy.logs.withMessage('auth file reloaded').at(-1)).toMatchObject({ roles: 1 });
      expect((await psqlAs('admin', ADMIN_PASSWORD)).stderr).toContain('password authentication failed for user "admin"');
      expect((await psqlAs('admin', 'rotated-password')).stdout.trim()).toBe('admin');
      expect((await open.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      writeFileSync(authFile, '"admin" "md5d41d8cd98f00b204e9800998ecf8427e"\n');
      proxy.proxy.reload();
      expect(proxy.logs.withMessage('auth file not reloaded: keeping the previous one')).toHaveLength(1);
      expect((await psqlAs('admin', 'rotated-password')).stdout.trim()).toBe('admin');
    } finally {
      await open.end();
      writeFileSync(authFile, entry('admin', postgresVerifier) + entry('app_reader', makeScramVerifier(READER_PASSWORD)));
      proxy.proxy.reload();
    }
  });
});

describe('a malformed SCRAM exchange', () => {
  it('an unknown mechanism gets FATAL 08P01 after the same pause, and nothing is dialed', async () => {
    const before = rig.emulator.records.length;
    const client = await RawClient.connect(proxy.port);
    client.send(startupMessage([['user', 'admin'], ['database', 'postgres']]));
    const [sasl] = await client.until('R');
    expect(sasl!.readInt32BE(5)).toBe(10); // AuthenticationSASL
    const started = Date.now();
    client.send(message('p', cstring('SCRAM-SHA-1'), int32(4), Buffer.from('n,,x')));
    const [error] = await client.until('E');
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    expect(parseErrorFields(error!)).toMatchObject({ S: 'FATAL', C: '08P01' });
    await client.closed;
    expect(rig.emulator.records.length).toBe(before);
  });
});

describe('client passwords with node-postgres', () => {
  it('pg logs in over the extended SCRAM exchange and queries', async () => {
    const pg = await import('pg');
    const client = new pg.default.Client({ host: '127.0.0.1', port: proxy.port, user: 'app_reader', password: READER_PASSWORD, database: 'postgres' });
    await client.connect();
    try {
      expect((await client.query('select current_user as u')).rows).toEqual([{ u: 'app_reader' }]);
    } finally {
      await client.end();
    }
    const wrong = new pg.default.Client({ host: '127.0.0.1', port: proxy.port, user: 'app_reader', password: 'nope', database: 'postgres' });
    await expect(wrong.connect()).rejects.toMatchObject({ code: '28P01' });
  });
});

describe('psql through the unix socket with a password', () => {
  it('psql -h DIR with PGPASSWORD', async () => {
    const socketDir = mkdtempSync(join(tmpdir(), 'dsql-proxy-sock-'));
    const local = await startTestProxy(rig.emulator.port, rig.ca, { authFile, unixSocket: socketDir });
    try {
      const result = await runTool('psql', ['-X', '-w', '-At', '-c', 'select current_user', '-d', `host=${socketDir} port=${local.port} user=admin dbname=postgres`],
        { env: clientEnv({ PGPASSWORD: ADMIN_PASSWORD }) });
      expect(result.stdout.trim(), result.stderr).toBe('admin');
      const refused = await runTool('psql', ['-X', '-w', '-At', '-c', 'select 1', '-d', `host=${socketDir} port=${local.port} user=admin dbname=postgres`],
        { env: clientEnv({ PGPASSWORD: 'wrong' }) });
      expect(refused.stderr).toContain('password authentication failed for user "admin"');
    } finally {
      await local.proxy.close();
      rmSync(socketDir, { recursive: true, force: true });
    }
  });
});
