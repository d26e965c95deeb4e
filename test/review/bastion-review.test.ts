/**
 * Review of bastion mode (issue 10) from a hostile client's, a careless operator's and a README reader's side.
 * Each test is a finding's reproduction or a check that an attack fails.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { connect as connectTls } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeScramVerifier } from '../../src/client/scram.js';
import { upstreamStartup } from '../../src/proxy/upstream-startup.js';
import { resolveAccessConfig } from '../../src/access-config.js';
import { parseStartupPacket } from '../../src/protocol/startup.js';
import { ScramTestClient } from '../client/scram-client.js';
import { issueServerCert, makeCa, type TestCa } from '../support/certs.js';
import { RawClient } from '../support/raw-client.js';
import { cstring, GSSENC_REQUEST_CODE, int32, message, parseErrorFields, sslRequest, startupMessage } from '../support/wire.js';
import { CLUSTER_ID, REGION, SERVICE_ID, TEST_CREDENTIALS, clientEnv, expectNoSecrets, runTool, startTestProxy, useRig, type TestProxy } from '../support/harness.js';

const rig = useRig({ proxy: false });
let dir: string;
let localCa: TestCa;
let otherCa: TestCa;
let certFile: string;
let keyFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dsql-proxy-review-'));
  localCa = makeCa('review local CA');
  otherCa = makeCa('review other CA');
  const identity = issueServerCert(localCa, ['localhost']);
  certFile = join(dir, 'server.crt');
  keyFile = join(dir, 'server.key');
  writeFileSync(certFile, identity.cert);
  writeFileSync(keyFile, identity.key, { mode: 0o600 });
});

afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

const PASSWORD = 'review-password';
let serial = 0;
/** Issues a client certificate with CN `cn` from `ca`; `expired` makes one whose validity ended in 2020. */
function clientCert(ca: TestCa, cn: string, expired = false): { cert: string; key: string } {
  const base = join(dir, `client-${++serial}`);
  const ext = `${base}.ext`;
  writeFileSync(ext, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  const run = (args: string[]): void => { execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }); };
  run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${cn}`]);
  if (expired) {
    writeFileSync(join(ca.dir, 'index.txt'), '');
    writeFileSync(join(ca.dir, 'serial'), `${(8192 + serial).toString(16)}\n`);
    writeFileSync(join(ca.dir, 'client.cnf'), ['[ca]', 'default_ca = t', '[t]', `dir = ${ca.dir}`, `database = ${ca.dir}/index.txt`,
      `new_certs_dir = ${ca.dir}`, `serial = ${ca.dir}/serial`, 'default_md = sha256', 'policy = p', 'unique_subject = no', '[p]', 'commonName = supplied'].join('\n'));
    run(['ca', '-batch', '-config', join(ca.dir, 'client.cnf'), '-cert', ca.certFile, '-keyfile', ca.keyFile, '-in', `${base}.csr`, '-out', `${base}.crt`,
      '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-extfile', ext, '-notext']);
  } else {
    run(['x509', '-req', '-in', `${base}.csr`, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', String(5000 + serial), '-out', `${base}.crt`, '-extfile', ext, '-days', '2']);
  }
  chmodSync(`${base}.key`, 0o600);
  return { cert: `${base}.crt`, key: `${base}.key` };
}

async function nextClose(proxy: TestProxy, before: number): Promise<Record<string, unknown> | undefined> {
  for (let i = 0; i < 150 && proxy.logs.withMessage('connection closed').length <= before; i++) await new Promise((r) => setTimeout(r, 20));
  return proxy.logs.withMessage('connection closed')[before];
}
const closeCount = (proxy: TestProxy): number => proxy.logs.withMessage('connection closed').length;

async function withProxy(raw: Parameters<typeof startTestProxy>[2], body: (proxy: TestProxy) => Promise<void>): Promise<void> {
  const proxy = await startTestProxy(rig.emulator.port, rig.ca, raw);
  try {
    await body(proxy);
    // Every refusal and every finished session must release its sockets and timers before shutdown forces them.
    for (let i = 0; i < 150 && proxy.proxy.server.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(proxy.proxy.server.openConnections).toBe(0);
  } finally {
    await proxy.proxy.close();
  }
  // Trace level: no password, verifier, key or token in any line.
  expectNoSecrets(proxy.logs.text);
  for (const secret of [PASSWORD, 'SCRAM-SHA-256$', 'PRIVATE KEY', 'p=']) expect(proxy.logs.text).not.toContain(secret);
  expect(proxy.proxy.server.openConnections).toBe(0);
}

function psqlTls(port: number, user: string, extra = '', env: Record<string, string> = {}): ReturnType<typeof runTool> {
  return runTool('psql', ['-X', '-w', '-At', '-c', 'select current_user', '-d',
    `host=localhost port=${port} user=${user} dbname=postgres sslmode=verify-full sslrootcert=${localCa.certFile} ${extra}`], { env: clientEnv(env) });
}

describe('client certificates (--tls-client-ca): no test in the change covered them', () => {
  it('a certificate from the client CA whose CN is the role gets a session; the audit line says cert', async () => {
    const admin = clientCert(localCa, 'admin');
    await withProxy({ tlsCert: certFile, tlsKey: keyFile, tlsClientCa: localCa.certFile }, async (proxy) => {
      const before = closeCount(proxy);
      const result = await psqlTls(proxy.port, 'admin', `sslcert=${admin.cert} sslkey=${admin.key}`);
      expect(result.stdout.trim(), result.stderr).toBe('admin');
      expect(await nextClose(proxy, before)).toMatchObject({ auth: 'cert', tls: true, outcome: 'relayed' });
    });
  });

  it.each([
    ['no certificate', undefined, 'admin', /connection requires a valid client certificate/],
    ['a certificate for another role', 'app_reader', 'admin', /certificate authentication failed for user "admin"/],
    ['a CN that differs only in case', 'Admin', 'admin', /certificate authentication failed for user "admin"/],
    ['a certificate from another CA', 'other-ca', 'admin', /client certificate is not valid/],
    ['an expired certificate', 'expired', 'admin', /client certificate is not valid: CERT_HAS_EXPIRED/],
  ])('%s is refused with FATAL 28000 and a hint, before dialing', async (_case, kind, user, message) => {
    const cert = kind === undefined ? undefined : kind === 'other-ca' ? clientCert(otherCa, 'admin')
      : kind === 'expired' ? clientCert(localCa, 'admin', true) : clientCert(localCa, kind);
    await withProxy({ tlsCert: certFile, tlsKey: keyFile, tlsClientCa: localCa.certFile }, async (proxy) => {
      const before = rig.emulator.records.length;
      const closes = closeCount(proxy);
      const result = await psqlTls(proxy.port, user, cert ? `sslcert=${cert.cert} sslkey=${cert.key}` : '');
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toContain('HINT:');
      expect(rig.emulator.records.length).toBe(before);
      expect(await nextClose(proxy, closes)).toMatchObject({ outcome: 'refused', tls: true });
    });
  });
});


/** An auth file in the review directory with `lines`. */
function authFileWith(name: string, lines: Record<string, string>): string {
  const path = join(dir, name);
  writeFileSync(path, Object.entries(lines).map(([role, verifier]) => `"${role}" "${verifier}"\n`).join(''), { mode: 0o600 });
  return path;
}

/** Runs startup and SASLInitialResponse on a raw client; returns the server-first-message's attributes. */
async function serverFirstFor(port: number, user: string): Promise<Map<string, string>> {
  const client = await RawClient.connect(port);
  try {
    client.send(startupMessage([['user', user], ['database', 'postgres']]));
    await client.until('R');
    const first = new ScramTestClient(PASSWORD).first();
    client.send(message('p', cstring('SCRAM-SHA-256'), int32(first.length), first));
    const [cont] = await client.until('R');
    const text = cont!.subarray(9).toString('latin1');
    return new Map(text.split(',').map((part) => [part[0]!, part.slice(2)] as const));
  } finally {
    client.socket.destroy();
  }
}

describe('SCRAM from a hostile client', () => {
  it('an unknown role is told the same iteration count as the roles in the file (no enumeration by i=)', async () => {
    const file = authFileWith('iterations.txt', { app_reader: makeScramVerifier(PASSWORD, { iterations: 10_000 }) });
    await withProxy({ authFile: file }, async (proxy) => {
      const known = await serverFirstFor(proxy.port, 'app_reader');
      const unknown = await serverFirstFor(proxy.port, 'no_such_role');
      expect(known.get('i')).toBe('10000');
      expect(unknown.get('i')).toBe(known.get('i'));
    });
  });

  it('a client that never answers the SASL request gets a FATAL with a hint at the startup deadline, and nothing stays open', async () => {
    const file = authFileWith('silent.txt', { admin: makeScramVerifier(PASSWORD) });
    await withProxy({ authFile: file, startupTimeout: 1 }, async (proxy) => {
      const before = rig.emulator.records.length;
      const client = await RawClient.connect(proxy.port);
      const started = Date.now();
      client.send(startupMessage([['user', 'admin'], ['database', 'postgres']]));
      const error = (await client.until('E')).at(-1)!;
      expect(Date.now() - started).toBeLessThan(2_500);
      const fields = parseErrorFields(error);
      expect(fields).toMatchObject({ S: 'FATAL', C: '08P01' });
      expect(fields.M).toMatch(/did not complete authentication within 1 s/);
      expect(fields.H).toBeDefined();
      await client.closed;
      expect(rig.emulator.records.length).toBe(before);
    });
  });

  it('the SASL responses and a query pipelined behind the startup message all arrive in one write and still log in', async () => {
    const file = authFileWith('pipelined.txt', { admin: makeScramVerifier(PASSWORD) });
    await withProxy({ authFile: file }, async (proxy) => {
      const client = await RawClient.connect(proxy.port);
      const scram = new ScramTestClient(PASSWORD);
      const first = scram.first();
      client.send(Buffer.concat([startupMessage([['user', 'admin'], ['database', 'postgres']]),
        message('p', cstring('SCRAM-SHA-256'), int32(first.length), first)]));
      await client.until('R');
      const [cont] = await client.until('R');
      const final = scram.final(cont!.subarray(9).toString('latin1'));
      client.send(Buffer.concat([message('p', final), message('Q', cstring('select 1'))]));
      const frames = await client.until('Z');
      expect(frames.map((f) => String.fromCharCode(f[0]!))).toContain('R');
      const rows = await client.until('Z');
      expect(rows.some((f) => f[0] === 0x44)).toBe(true); // DataRow of the pipelined query
      client.socket.destroy();
    });
  });

  it('a Terminate in place of the SASL response is a client leaving, not a failed login', async () => {
    const file = authFileWith('terminate.txt', { admin: makeScramVerifier(PASSWORD) });
    await withProxy({ authFile: file }, async (proxy) => {
      const before = rig.emulator.records.length;
      const closes = closeCount(proxy);
      const client = await RawClient.connect(proxy.port);
      client.send(startupMessage([['user', 'admin'], ['database', 'postgres']]));
      await client.until('R');
      client.send(message('X'));
      client.socket.end();
      await client.closed;
      expect(await nextClose(proxy, closes)).toMatchObject({ outcome: 'client-gone' });
      expect(rig.emulator.records.length).toBe(before);
    });
  });
});

describe('the auth file on SIGHUP', () => {
  it('a file that disappeared is logged and the previous verifiers stay in force', async () => {
    const file = authFileWith('vanishing.txt', { admin: makeScramVerifier(PASSWORD) });
    await withProxy({ authFile: file }, async (proxy) => {
      renameSync(file, `${file}.moved`);
      proxy.proxy.reload();
      expect(proxy.logs.withMessage('auth file not reloaded: keeping the previous one').at(-1)?.error).toMatch(/no such file/);
      const result = await runTool('psql', ['-X', '-w', '-At', '-c', 'select current_user', '-d',
        `host=127.0.0.1 port=${proxy.port} user=admin dbname=postgres sslmode=disable`], { env: clientEnv({ PGPASSWORD: PASSWORD }) });
      expect(result.stdout.trim(), result.stderr).toBe('admin');
    });
  });
});

describe('local TLS from a hostile client', () => {
  it('a TLS 1.2 client cannot renegotiate (PostgreSQL refuses renegotiation too)', async () => {
    await withProxy({ tlsCert: certFile, tlsKey: keyFile }, async (proxy) => {
      const socket = await new Promise<ReturnType<typeof connectTls>>((resolve, reject) => {
        const s = connectTls({ host: '127.0.0.1', port: proxy.port, servername: 'localhost', ca: localCa.cert, ALPNProtocols: ['postgresql'], maxVersion: 'TLSv1.2' },
          () => resolve(s));
        s.once('error', reject);
      });
      const outcome = await new Promise<string>((resolve) => {
        socket.once('error', (error) => resolve(`error: ${error.message}`));
        socket.renegotiate({ rejectUnauthorized: false }, (error) => resolve(error ? `error: ${error.message}` : 'renegotiated'));
        socket.write(startupMessage([['user', 'admin'], ['database', 'postgres']]));
      });
      socket.destroy();
      expect(outcome).toMatch(/no renegotiation/);
    });
  });
});

/** A raw TCP socket to the proxy and everything it receives until it closes. */
async function rawSocket(port: number): Promise<{ socket: ReturnType<typeof connectTcp>; received: () => Buffer; closed: Promise<void> }> {
  const socket = connectTcp(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise((r) => socket.once('connect', r));
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return { socket, received: () => Buffer.concat(chunks), closed };
}

describe('local TLS openings that go wrong', () => {
  it('SSLRequest answered S, then plaintext garbage: closed, logged as tls-failed, nothing dialed or left open', async () => {
    await withProxy({ tlsCert: certFile, tlsKey: keyFile }, async (proxy) => {
      const before = rig.emulator.records.length;
      const closes = closeCount(proxy);
      const client = await rawSocket(proxy.port);
      client.socket.write(sslRequest());
      for (let i = 0; i < 50 && client.received().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(client.received().toString('latin1')).toBe('S');
      client.socket.write(startupMessage([['user', 'admin'], ['database', 'postgres']]));
      await client.closed;
      expect(await nextClose(proxy, closes)).toMatchObject({ outcome: 'tls-failed' });
      expect(rig.emulator.records.length).toBe(before);
    });
  });

  it('a direct TLS client that never finishes its handshake is closed at the startup deadline', async () => {
    await withProxy({ tlsCert: certFile, tlsKey: keyFile, startupTimeout: 1 }, async (proxy) => {
      const closes = closeCount(proxy);
      const client = await rawSocket(proxy.port);
      const started = Date.now();
      client.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x50])); // a record header, then silence
      await client.closed;
      expect(Date.now() - started).toBeLessThan(2_500);
      expect(await nextClose(proxy, closes)).toMatchObject({ outcome: 'tls-failed' });
    });
  });

  it('GSSENCRequest answered N, then SSLRequest answered S, then a TLS session', async () => {
    await withProxy({ tlsCert: certFile, tlsKey: keyFile }, async (proxy) => {
      const client = await rawSocket(proxy.port);
      const gssenc = Buffer.alloc(8);
      gssenc.writeInt32BE(8, 0);
      gssenc.writeInt32BE(GSSENC_REQUEST_CODE, 4);
      client.socket.write(gssenc);
      for (let i = 0; i < 50 && client.received().length < 1; i++) await new Promise((r) => setTimeout(r, 10));
      client.socket.write(sslRequest());
      for (let i = 0; i < 50 && client.received().length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(client.received().toString('latin1')).toBe('NS');
      client.socket.removeAllListeners('data');
      const secure = await new Promise<ReturnType<typeof connectTls>>((resolve, reject) => {
        const s = connectTls({ socket: client.socket, servername: 'localhost', ca: localCa.cert }, () => resolve(s));
        s.once('error', reject);
      });
      secure.write(startupMessage([['user', 'admin'], ['database', 'postgres']]));
      const answer = await new Promise<Buffer>((resolve) => secure.once('data', resolve));
      expect(answer[0]).toBe(0x52); // 'R': the login went on over TLS
      secure.destroy();
    });
  });
});

/** A TCP port nothing listens on right now (the unix socket's name follows the --listen port). */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe('unix sockets', () => {
  it('a symlink or a regular file where the socket goes is left alone and the proxy does not start', async () => {
    const socketDir = join(dir, 'sock-odd');
    mkdirSync(socketDir);
    const target = join(dir, 'precious.txt');
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
    const socketDir = join(dir, 'sock-mode');
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
    const socketDir = join(dir, 'sock-tls');
    mkdirSync(socketDir);
    const file = authFileWith('unix.txt', { admin: makeScramVerifier(PASSWORD) });
    const proxy = await startTestProxy(rig.emulator.port, rig.ca, { authFile: file, tlsCert: certFile, tlsKey: keyFile, requireTls: true, unixSocket: socketDir });
    try {
      const result = await runTool('psql', ['-X', '-w', '-At', '-c', 'select current_user', '-d', `host=${socketDir} port=${proxy.port} user=admin dbname=postgres`],
        { env: clientEnv({ PGPASSWORD: PASSWORD }) });
      expect(result.stdout.trim(), result.stderr).toBe('admin');
    } finally {
      await proxy.proxy.close();
    }
  });
});

describe('flags a careless operator combines', () => {
  it('--allow-unauthenticated with --auth-file still demands the password', async () => {
    const file = authFileWith('both.txt', { admin: makeScramVerifier(PASSWORD) });
    await withProxy({ authFile: file, allowUnauthenticated: true, listen: '0.0.0.0:0' }, async (proxy) => {
      const before = rig.emulator.records.length;
      const result = await runTool('psql', ['-X', '-w', '-At', '-c', 'select 1', '-d', `host=127.0.0.1 port=${proxy.port} user=admin dbname=postgres sslmode=disable`],
        { env: clientEnv({}) });
      expect(result.status).not.toBe(0);
      expect(rig.emulator.records.length).toBe(before);
    });
  });
});

describe('the README worked example, as written (addresses adapted to one machine)', () => {
  it('the certificate, passwd lines and bastion command work with psql as the client table says, flags given as DSQL_PROXY_* variables', async () => {
    const work = join(dir, 'readme');
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

describe('--help', () => {
  it('its container example with --listen 0.0.0.0 names client authentication (without it that command exits 2)', async () => {
    const help = await runTool(process.execPath, ['bin/dsql-proxy.js', '--help']);
    const examples = help.stdout.slice(help.stdout.indexOf('Examples:'));
    expect(examples).toContain('0.0.0.0:5432');
    expect(examples).toMatch(/AUTH_FILE|--auth-file|TLS_CLIENT_CA|--tls-client-ca|--allow-unauthenticated/);
  });
});

describe('a startup packet that names the user twice', () => {
  it('only the user the proxy judged (the last, as PostgreSQL reads it) goes upstream', () => {
    const packet = parseStartupPacket(startupMessage([['user', 'admin'], ['database', 'postgres'], ['user', 'app_reader']]));
    if (packet.kind !== 'startup') throw new Error('not a startup packet');
    const upstream = upstreamStartup(packet, { clusterId: CLUSTER_ID, injectClusterId: false, keepDatabase: false });
    expect(upstream.user).toBe('app_reader');
    expect(upstream.parameters.filter(([name]) => name === 'user')).toEqual([['user', 'app_reader']]);
  });
});

describe('the audit line', () => {
  it('a direct TLS client refused for lacking ALPN is logged with tls: true', async () => {
    await withProxy({ tlsCert: certFile, tlsKey: keyFile }, async (proxy) => {
      const closes = closeCount(proxy);
      const socket = await new Promise<ReturnType<typeof connectTls>>((resolve, reject) => {
        const s = connectTls({ host: '127.0.0.1', port: proxy.port, servername: 'localhost', ca: localCa.cert }, () => resolve(s));
        s.once('error', reject);
      });
      socket.on('data', () => undefined);
      await new Promise((r) => socket.once('close', r));
      expect(await nextClose(proxy, closes)).toMatchObject({ tls: true, outcome: 'failed' });
    });
  });
});

describe('the startup deadline', () => {
  it('covers the opening and the SCRAM exchange together: a slow startup packet leaves less time to answer', async () => {
    const file = authFileWith('deadline.txt', { admin: makeScramVerifier(PASSWORD) });
    await withProxy({ authFile: file, startupTimeout: 2 }, async (proxy) => {
      const client = await RawClient.connect(proxy.port);
      const started = Date.now();
      await new Promise((r) => setTimeout(r, 1_500));
      client.send(startupMessage([['user', 'admin'], ['database', 'postgres']]));
      const error = (await client.until('E')).at(-1)!;
      expect(parseErrorFields(error).M).toMatch(/did not complete authentication within 2 s/);
      expect(Date.now() - started).toBeLessThan(2_700);
      client.socket.destroy();
    });
  });
});

describe('an empty auth file', () => {
  it('is warned about at start and on reload (every client would be refused)', async () => {
    const file = authFileWith('empty.txt', {});
    await withProxy({ authFile: file }, async (proxy) => {
      const warnings = (): Record<string, unknown>[] => proxy.logs.lines.filter((l) => l.level === 40 && String(l.msg).includes('lists no role'));
      expect(warnings()).toHaveLength(1);
      proxy.proxy.reload();
      expect(warnings()).toHaveLength(2);
    });
  });
});

describe('odd SASL messages', () => {
  it.each([
    ['no initial data (length -1)', message('p', cstring('SCRAM-SHA-256'), int32(-1))],
    ['an empty client-first-message', message('p', cstring('SCRAM-SHA-256'), int32(0))],
    ['a 1 MiB message', message('p', cstring('SCRAM-SHA-256'), int32(1 << 20), Buffer.alloc(1 << 20, 0x61))],
  ])('%s: FATAL 08P01 with a hint after the failure pause, nothing dialed, nothing left open', async (_case, bytes) => {
    const file = authFileWith('odd.txt', { admin: makeScramVerifier(PASSWORD) });
    await withProxy({ authFile: file }, async (proxy) => {
      const before = rig.emulator.records.length;
      const client = await RawClient.connect(proxy.port);
      client.send(startupMessage([['user', 'admin'], ['database', 'postgres']]));
      await client.until('R');
      const started = Date.now();
      client.send(bytes);
      const error = (await client.until('E')).at(-1)!;
      expect(Date.now() - started).toBeGreaterThanOrEqual(240);
      expect(parseErrorFields(error)).toMatchObject({ S: 'FATAL', C: '08P01' });
      expect(parseErrorFields(error).H).toBeDefined();
      await client.closed;
      expect(rig.emulator.records.length).toBe(before);
    });
  });

  it('a client-certificate handshake that never finishes is closed at the startup deadline', async () => {
    await withProxy({ tlsCert: certFile, tlsKey: keyFile, tlsClientCa: localCa.certFile, startupTimeout: 1 }, async (proxy) => {
      const closes = closeCount(proxy);
      const client = await rawSocket(proxy.port);
      client.socket.write(sslRequest());
      await client.closed;
      expect(await nextClose(proxy, closes)).toMatchObject({ outcome: 'tls-failed' });
    });
  });
});

describe('--unix-socket with a relative directory', () => {
  it('is taken from the working directory and becomes absolute, the only form libpq reads as a socket directory', () => {
    const config = resolveAccessConfig({ unixSocket: 'run/dsql', allowUnauthenticated: true }, { host: '127.0.0.1', port: 5432 });
    expect(config.unixSocket?.dir).toBe(join(process.cwd(), 'run/dsql'));
  });
});

describe('client certificates over direct TLS', () => {
  it('a direct TLS client (ALPN postgresql) with a certificate for its role gets a session', async () => {
    const admin = clientCert(localCa, 'admin');
    await withProxy({ tlsCert: certFile, tlsKey: keyFile, tlsClientCa: localCa.certFile }, async (proxy) => {
      const socket = await new Promise<ReturnType<typeof connectTls>>((resolve, reject) => {
        const s = connectTls({ host: '127.0.0.1', port: proxy.port, servername: 'localhost', ca: localCa.cert, ALPNProtocols: ['postgresql'],
          cert: readFileSync(admin.cert), key: readFileSync(admin.key) }, () => resolve(s));
        s.once('error', reject);
      });
      socket.write(startupMessage([['user', 'admin'], ['database', 'postgres']]));
      const chunks: Buffer[] = [];
      await new Promise<void>((resolve) => {
        socket.on('data', (chunk: Buffer) => { chunks.push(chunk); if (Buffer.concat(chunks).includes(Buffer.from([0x5a, 0, 0, 0, 5]))) resolve(); });
        socket.once('close', () => resolve());
      });
      expect(Buffer.concat(chunks)[0]).toBe(0x52); // AuthenticationOk, not an ErrorResponse
      socket.destroy();
    });
  });
});
