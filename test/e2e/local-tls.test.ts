import { connect as connectTcp } from 'node:net';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueLocalServerCert, makeCa, type TestCa } from '../support/certs.js';
import { psql, startTestProxy, useRig, waitForActiveQuery, type TestProxy } from '../support/harness.js';
import { endsWithReadyForQuery, queryMessage } from '../support/raw-client.js';
import { cancelRequest, parseErrorFields, sslRequest, startupMessage } from '../support/wire.js';

const rig = useRig({ proxy: false });
let localCa: TestCa;
let certFile: string;
let keyFile: string;
let tlsProxy: TestProxy;

beforeAll(async () => {
  localCa = makeCa('dsql-proxy local test CA');
  ({ certFile, keyFile } = issueLocalServerCert(localCa));
  tlsProxy = await startTestProxy(rig.emulator.port, rig.ca, { tlsCert: certFile, tlsKey: keyFile });
});

afterAll(async () => {
  await tlsProxy?.proxy.close();
});

const verifyFull = (port: number, extra = ''): string =>
  `host=localhost port=${port} user=admin dbname=postgres sslmode=verify-full sslrootcert=${localCa.certFile} ${extra}`;

/** Opens TLS straight away (PostgreSQL 17's sslnegotiation=direct) with the given ALPN offer. */
function directTls(port: number, alpn: string[] | undefined): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connectTls({ host: '127.0.0.1', port, servername: 'localhost', ca: localCa.cert, ...(alpn ? { ALPNProtocols: alpn } : {}) },
      () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Collects what the socket sends until it closes or ends with ReadyForQuery. */
function readAnswer(socket: TLSSocket): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = (): void => { socket.off('data', onData); resolve(Buffer.concat(chunks)); };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      if (endsWithReadyForQuery(Buffer.concat(chunks))) done();
    };
    socket.on('data', onData).once('close', done).once('error', () => undefined);
  });
}


describe('local TLS (--tls-cert, --tls-key)', () => {
  it('psql sslmode=verify-full gets a session after SSLRequest is answered S, and the close line says tls', async () => {
    const before = tlsProxy.logs.closeCount;
    const result = await psql(tlsProxy.port, ['-At', '-c', 'select 7'], { conninfo: verifyFull(tlsProxy.port) });
    expect(result.stdout.trim(), result.stderr).toBe('7');
    expect(await tlsProxy.logs.closeLineWith(before, { tls: true, auth: 'trust-loopback', user: 'admin', outcome: 'relayed' })).toMatchObject({ tls: true, auth: 'trust-loopback', user: 'admin', outcome: 'relayed' });
  });

  it('psql sslmode=verify-full refuses the proxy when it names a host the certificate does not cover', async () => {
    const result = await psql(tlsProxy.port, ['-At', '-c', 'select 1'], {
      conninfo: `host=proxy.example hostaddr=127.0.0.1 port=${tlsProxy.port} user=admin dbname=postgres sslmode=verify-full sslrootcert=${localCa.certFile}`,
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/does not match host name|certificate/);
  });

  it('a plaintext client still connects when TLS is offered but not required', async () => {
    const before = tlsProxy.logs.closeCount;
    const result = await psql(tlsProxy.port, ['-At', '-c', 'select 8'], { conninfo: `host=127.0.0.1 port=${tlsProxy.port} user=admin dbname=postgres sslmode=disable` });
    expect(result.stdout.trim(), result.stderr).toBe('8');
    expect(await tlsProxy.logs.closeLineWith(before, { tls: false, outcome: 'relayed' })).toMatchObject({ tls: false, outcome: 'relayed' });
  });

  it('a direct TLS client offering ALPN postgresql gets a session (sslnegotiation=direct)', async () => {
    const socket = await directTls(tlsProxy.port, ['postgresql']);
    expect(socket.alpnProtocol).toBe('postgresql');
    socket.write(startupMessage([['user', 'admin'], ['database', 'postgres']]));
    expect(endsWithReadyForQuery(await readAnswer(socket))).toBe(true);
    socket.write(queryMessage('select 41 + 1'));
    expect((await readAnswer(socket)).toString('latin1')).toContain('42');
    socket.destroy();
  });

  it('a direct TLS client that offers no ALPN is refused with FATAL 08P01 inside TLS, and nothing is dialed', async () => {
    const before = rig.emulator.records.length;
    const socket = await directTls(tlsProxy.port, undefined);
    const answer = await readAnswer(socket);
    expect(answer[0]).toBe(0x45);
    expect(parseErrorFields(answer.subarray(0, 1 + answer.readInt32BE(1)))).toMatchObject({ S: 'FATAL', C: '08P01' });
    expect(rig.emulator.records.length).toBe(before);
  });

  it('a direct TLS client offering only another ALPN protocol fails the handshake, as PostgreSQL 17 does', async () => {
    await expect(directTls(tlsProxy.port, ['http/1.1'])).rejects.toThrow(/no application protocol/i);
  });

  it('bytes sent after the SSLRequest before the answer are refused (CVE-2021-23214)', async () => {
    const socket = connectTcp(tlsProxy.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((r) => socket.once('connect', r));
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.write(Buffer.concat([sslRequest(), startupMessage([['user', 'admin']])]));
    await new Promise((r) => socket.once('close', r));
    const answer = Buffer.concat(received);
    expect(answer[0]).toBe(0x45);
    expect(parseErrorFields(answer)).toMatchObject({ C: '08P01', M: 'received unencrypted data after SSL request' });
  });

  it('a CancelRequest inside TLS cancels the running query of a TLS session', async () => {
    const session = await directTls(tlsProxy.port, ['postgresql']);
    session.write(startupMessage([['user', 'admin'], ['database', 'postgres']]));
    const greeting = await readAnswer(session);
    const at = greeting.indexOf(Buffer.from([0x4b, 0, 0, 0, 12])); // BackendKeyData
    const processId = greeting.readInt32BE(at + 5);
    const key = greeting.subarray(at + 9, at + 13);
    session.write(queryMessage('select pg_sleep(30)'));
    const answer = readAnswer(session);
    await waitForActiveQuery('select pg_sleep(30)');
    const canceller = await directTls(tlsProxy.port, ['postgresql']);
    canceller.write(cancelRequest(processId, key));
    await new Promise((r) => canceller.once('close', r));
    const text = (await answer).toString('latin1');
    expect(text).toContain('57014');
    session.destroy();
  });
});

describe('without a local certificate', () => {
  it('a direct TLS client is closed and the log says what happened and how to enable TLS', async () => {
    const plain = await startTestProxy(rig.emulator.port, rig.ca);
    try {
      await expect(directTls(plain.port, ['postgresql'])).rejects.toThrow();
      for (let i = 0; i < 50 && plain.logs.withMessage('client TLS failed').length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      const line = plain.logs.withMessage('client TLS failed')[0];
      expect(line?.error).toMatch(/started TLS directly.*--tls-cert and --tls-key/);
      expect(plain.logs.text).not.toContain('invalid length of startup packet');
    } finally {
      await plain.proxy.close();
    }
  });
});

describe('--require-tls', () => {
  it('refuses a plaintext client with FATAL 28000 before dialing, and serves a TLS client', async () => {
    const strict = await startTestProxy(rig.emulator.port, rig.ca, { tlsCert: certFile, tlsKey: keyFile, requireTls: true });
    try {
      const before = rig.emulator.records.length;
      const closes = strict.logs.closeCount;
      const refused = await psql(strict.port, ['-At', '-c', 'select 1'], { conninfo: `host=127.0.0.1 port=${strict.port} user=admin dbname=postgres sslmode=disable` });
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain('FATAL:  this proxy accepts only TLS connections (--require-tls)');
      expect(rig.emulator.records.length).toBe(before);
      expect(await strict.logs.closeLineWith(closes, { outcome: 'refused', tls: false })).toMatchObject({ outcome: 'refused', tls: false });
      const served = await psql(strict.port, ['-At', '-c', 'select 9'], { conninfo: verifyFull(strict.port) });
      expect(served.stdout.trim(), served.stderr).toBe('9');
    } finally {
      await strict.proxy.close();
    }
  });
});
