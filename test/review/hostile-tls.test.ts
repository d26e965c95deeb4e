/**
 * Review of bastion mode (issue 10), local TLS side, from a hostile client's view: openings that go wrong,
 * renegotiation, client certificates over direct TLS, and the audit line of refusals inside TLS.
 */
import { readFileSync } from 'node:fs';
import { connect as connectTls } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { issueClientCert } from '../support/certs.js';
import { useRig } from '../support/harness.js';
import { GSSENC_REQUEST_CODE, sslRequest, startupMessage } from '../support/wire.js';
import { rawSocket, useReviewFiles, withProxy } from './support.js';

const rig = useRig({ proxy: false });
const files = useReviewFiles();

describe('local TLS from a hostile client', () => {
  it('a TLS 1.2 client cannot renegotiate (PostgreSQL refuses renegotiation too)', async () => {
    await withProxy(rig, { tlsCert: files.certFile, tlsKey: files.keyFile }, async (proxy) => {
      const socket = await new Promise<ReturnType<typeof connectTls>>((resolve, reject) => {
        const s = connectTls({ host: '127.0.0.1', port: proxy.port, servername: 'localhost', ca: files.localCa.cert, ALPNProtocols: ['postgresql'], maxVersion: 'TLSv1.2' },
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

describe('local TLS openings that go wrong', () => {
  it('SSLRequest answered S, then plaintext garbage: closed, logged as tls-failed, nothing dialed or left open', async () => {
    await withProxy(rig, { tlsCert: files.certFile, tlsKey: files.keyFile }, async (proxy) => {
      const before = rig.emulator.records.length;
      const closes = proxy.logs.closeCount;
      const client = await rawSocket(proxy.port);
      client.socket.write(sslRequest());
      for (let i = 0; i < 50 && client.received().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(client.received().toString('latin1')).toBe('S');
      client.socket.write(startupMessage([['user', 'admin'], ['database', 'postgres']]));
      await client.closed;
      expect(await proxy.logs.closeLineWith(closes, { outcome: 'tls-failed' })).toMatchObject({ outcome: 'tls-failed' });
      expect(rig.emulator.records.length).toBe(before);
    });
  });

  it('a direct TLS client that never finishes its handshake is closed at the startup deadline', async () => {
    await withProxy(rig, { tlsCert: files.certFile, tlsKey: files.keyFile, startupTimeout: 1 }, async (proxy) => {
      const closes = proxy.logs.closeCount;
      const client = await rawSocket(proxy.port);
      const started = Date.now();
      client.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x50])); // a record header, then silence
      await client.closed;
      expect(Date.now() - started).toBeLessThan(2_500);
      expect(await proxy.logs.closeLineWith(closes, { outcome: 'tls-failed' })).toMatchObject({ outcome: 'tls-failed' });
    });
  });

  it('GSSENCRequest answered N, then SSLRequest answered S, then a TLS session', async () => {
    await withProxy(rig, { tlsCert: files.certFile, tlsKey: files.keyFile }, async (proxy) => {
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
        const s = connectTls({ socket: client.socket, servername: 'localhost', ca: files.localCa.cert }, () => resolve(s));
        s.once('error', reject);
      });
      secure.write(startupMessage([['user', 'admin'], ['database', 'postgres']]));
      const answer = await new Promise<Buffer>((resolve) => secure.once('data', resolve));
      expect(answer[0]).toBe(0x52); // 'R': the login went on over TLS
      secure.destroy();
    });
  });
});


describe('the audit line', () => {
  it('a direct TLS client refused for lacking ALPN is logged with tls: true', async () => {
    await withProxy(rig, { tlsCert: files.certFile, tlsKey: files.keyFile }, async (proxy) => {
      const closes = proxy.logs.closeCount;
      const socket = await new Promise<ReturnType<typeof connectTls>>((resolve, reject) => {
        const s = connectTls({ host: '127.0.0.1', port: proxy.port, servername: 'localhost', ca: files.localCa.cert }, () => resolve(s));
        s.once('error', reject);
      });
      socket.on('data', () => undefined);
      await new Promise((r) => socket.once('close', r));
      expect(await proxy.logs.closeLineWith(closes, { tls: true, outcome: 'failed' })).toMatchObject({ tls: true, outcome: 'failed' });
    });
  });
});

describe('client certificates over TLS', () => {
  it('a client-certificate handshake that never finishes is closed at the startup deadline', async () => {
    await withProxy(rig, { tlsCert: files.certFile, tlsKey: files.keyFile, tlsClientCa: files.localCa.certFile, startupTimeout: 1 }, async (proxy) => {
      const closes = proxy.logs.closeCount;
      const client = await rawSocket(proxy.port);
      client.socket.write(sslRequest());
      await client.closed;
      expect(await proxy.logs.closeLineWith(closes, { outcome: 'tls-failed' })).toMatchObject({ outcome: 'tls-failed' });
    });
  });

  it('a direct TLS client (ALPN postgresql) with a certificate for its role gets a session', async () => {
    const admin = issueClientCert(files.localCa, 'admin');
    await withProxy(rig, { tlsCert: files.certFile, tlsKey: files.keyFile, tlsClientCa: files.localCa.certFile }, async (proxy) => {
      const socket = await new Promise<ReturnType<typeof connectTls>>((resolve, reject) => {
        const s = connectTls({ host: '127.0.0.1', port: proxy.port, servername: 'localhost', ca: files.localCa.cert, ALPNProtocols: ['postgresql'],
          cert: readFileSync(admin.certFile), key: readFileSync(admin.keyFile) }, () => resolve(s));
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
