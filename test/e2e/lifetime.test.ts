import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dialer, UpstreamConnection } from '../../src/proxy/ports.js';
import { serializeStartupMessage } from '../../src/protocol/startup.js';
import { queryMessage, RawClient } from '../support/raw-client.js';
import { connectError, startTestProxy, useRig } from '../support/harness.js';
import { parseErrorResponse } from '../../src/protocol/messages.js';

const rig = useRig({ proxy: false });

/** An upstream that accepts TCP and never answers: a login through it hangs until someone gives up. */
class SilentUpstream {
  readonly server: Server = createServer((socket) => this.accepted(socket));
  readonly open = new Set<Socket>();
  accepts = 0;
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** A dialer that reaches this upstream over plain TCP (the proxy core takes any Duplex). */
  dialer(): Dialer {
    return {
      dial: () => new Promise<UpstreamConnection>((resolve, reject) => {
        const socket = connect(this.port, '127.0.0.1', () => resolve({ socket, remoteAddress: `127.0.0.1:${this.port}`, address: '127.0.0.1' }));
        socket.once('error', reject);
      }),
    };
  }

  async waitForOpen(count: number): Promise<void> {
    for (let i = 0; i < 100 && this.open.size !== count; i++) await new Promise((r) => setTimeout(r, 20));
    expect(this.open.size).toBe(count);
  }

  private accepted(socket: Socket): void {
    this.accepts++;
    this.open.add(socket);
    socket.on('error', () => undefined);
    socket.resume(); // reads (and drops) what arrives, so it sees the proxy hang up
    socket.once('close', () => this.open.delete(socket));
  }
}

const silent = new SilentUpstream();
beforeAll(() => silent.start());
afterAll(() => new Promise<void>((resolve) => silent.server.close(() => resolve())));

const startup = serializeStartupMessage(196608, [['user', 'admin'], ['database', 'postgres']]);

describe('connection lifetime: every socket has an owner', () => {
  it('a client that resets during the upstream login gets its upstream socket closed at once, and the server holds nothing', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca, { connectTimeout: 30 }, { dialer: silent.dialer() });
    try {
      const client = await RawClient.connect(proxy.port);
      client.send(startup);
      await silent.waitForOpen(1); // the proxy is now waiting for the server's password request
      client.socket.resetAndDestroy();
      await silent.waitForOpen(0);
      for (let i = 0; i < 50 && proxy.proxy.server.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(proxy.proxy.server.openConnections).toBe(0);
      expect(proxy.logs.withMessage('connection closed').at(-1)).toMatchObject({ outcome: 'client-gone' });
    } finally {
      await proxy.proxy.close();
    }
  });

  it('a client that closes normally (FIN) during the upstream login releases the upstream socket at once, not at the deadline', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca, { connectTimeout: 30 }, { dialer: silent.dialer() });
    try {
      const client = await RawClient.connect(proxy.port);
      client.send(startup);
      await silent.waitForOpen(1);
      const started = Date.now();
      client.socket.end();
      await silent.waitForOpen(0);
      expect(Date.now() - started).toBeLessThan(1_000);
      await client.closed; // and the proxy closes its side of the half-closed client
      for (let i = 0; i < 50 && proxy.proxy.server.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(proxy.proxy.server.openConnections).toBe(0);
    } finally {
      await proxy.proxy.close();
    }
  });

  it('queries a client pipelines behind its startup reach the server after the login, in order', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca);
    try {
      const client = await RawClient.connect(proxy.port);
      client.send(Buffer.concat([startup, queryMessage('select 41 + 1')]));
      await client.until('Z'); // the login
      const answer = await client.until('Z');
      expect(answer.find((f) => f[0] === 0x44)!.subarray(11).toString()).toBe('42');
      client.socket.destroy();
    } finally {
      await proxy.proxy.close();
    }
  });

  it('close() during a hung login destroys the upstream socket and resolves promptly', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca, { connectTimeout: 30 }, { dialer: silent.dialer() });
    const client = await RawClient.connect(proxy.port);
    client.send(startup);
    await silent.waitForOpen(1);
    const started = Date.now();
    await proxy.proxy.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    await silent.waitForOpen(0);
    await client.closed;
  });

  it('a credential source that hangs: FATAL 28000 within --connect-timeout, nothing dialed, and the next connection signs anew', async () => {
    let hang = true;
    let calls = 0;
    const credentials = async () => {
      calls++;
      if (hang) await new Promise(() => undefined);
      return { accessKeyId: 'AKIDDSQLPROXYTEST0001', secretAccessKey: 'dsqlproxyTestSecretKey/DoNotUse+0000000000' };
    };
    const proxy = await startTestProxy(rig.emulator.port, rig.ca, { connectTimeout: 1 }, { credentials });
    try {
      const before = rig.emulator.records.length;
      const started = Date.now();
      const error = await connectError(proxy.port);
      expect(Date.now() - started).toBeLessThan(2_500);
      expect(error).toMatchObject({ code: '28000', severity: 'FATAL' });
      expect(error.message).toBe('dsql-proxy could not sign an IAM token within 1 s: the AWS credential source did not answer');
      expect(error.hint).toMatch(/aws sts get-caller-identity/);
      expect(rig.emulator.records.length).toBe(before); // signing comes first: a failure costs no upstream connection
      hang = false;
      const client = await RawClient.connect(proxy.port);
      client.send(startup);
      const frames = await client.until('Z');
      expect(frames[0]![0]).toBe(0x52); // AuthenticationOk: the hung signature was not waited on
      expect(calls).toBe(2);
      client.socket.destroy();
    } finally {
      await proxy.proxy.close();
    }
  });

  it('a TCP connect-and-close (a health probe) is logged at debug only, never as a warning', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca);
    try {
      const socket = connect(proxy.port, '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      socket.end();
      await new Promise((r) => socket.once('close', r));
      for (let i = 0; i < 50 && proxy.proxy.server.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 20));
      const lines = proxy.logs.lines.filter((l) => l.conn !== undefined);
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.every((l) => (l.level as number) <= 20), JSON.stringify(lines)).toBe(true);
      expect(lines.at(-1)).toMatchObject({ msg: 'connection closed', outcome: 'probe' });
    } finally {
      await proxy.proxy.close();
    }
  });

  it('a client that sends garbage still gets a FATAL and a warning (it is not a probe)', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca);
    try {
      const client = await RawClient.connect(proxy.port);
      client.send(Buffer.from([0, 0, 0, 8, 0, 0, 0, 1]));
      const frame = await client.next();
      expect(parseErrorResponse(frame!)).toMatchObject({ severity: 'FATAL', code: '08P01' });
      await client.closed;
      expect(proxy.logs.lines.some((l) => l.msg === 'connection failed before relay' && l.level === 40)).toBe(true);
    } finally {
      await proxy.proxy.close();
    }
  });
});
