import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type OnReadOpts, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { relay, type RelayResult } from '../../src/proxy/relay.js';
import { ReusedBufferReader } from '../../src/upstream/chunk-reader.js';

/** A connected pair of real loopback sockets: [near, far]; `onread` goes to the far (connecting) one. */
async function socketPair(onread?: OnReadOpts): Promise<[Socket, Socket]> {
  const server = createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const far = connect({ port: (server.address() as { port: number }).port, host: '127.0.0.1', allowHalfOpen: true, ...(onread ? { onread } : {}) });
  const near = await accepted;
  server.close();
  await new Promise((r) => far.once('connect', r));
  return [near, far];
}

type ServerReads = 'stream' | 'reused buffer';

/**
 * client ⇄ [proxyClient relay proxyServer] ⇄ server, all real sockets. With 'reused buffer' the proxy's
 * server socket reads through a ReusedBufferReader, as upstream connections opened with direct TLS do.
 */
async function relayed(reads: ServerReads = 'stream'): Promise<{ client: Socket; server: Socket; done: Promise<RelayResult> }> {
  const [proxyClient, client] = await socketPair();
  if (reads === 'stream') {
    const [proxyServer, server] = await socketPair();
    const done = new Promise<RelayResult>((resolve) => relay(proxyClient, proxyServer, resolve));
    return { client, server, done };
  }
  const reader = new ReusedBufferReader();
  const [server, proxyServer] = await socketPair(reader.onread);
  reader.bind(proxyServer);
  proxyServer.pause();
  const done = new Promise<RelayResult>((resolve) => relay(proxyClient, proxyServer, resolve, reader));
  return { client, server, done };
}

const collect = (socket: Socket): Promise<Buffer> => new Promise((resolve) => {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.once('end', () => resolve(Buffer.concat(chunks)));
});

describe.each<ServerReads>(['stream', 'reused buffer'])('relay, server read as %s', (reads) => {
  const relayed_ = (): ReturnType<typeof relayed> => relayed(reads);

  it('carries bytes both ways unchanged and reports the counts once both sides closed', async () => {
    const { client, server, done } = await relayed_();
    const toServer = Buffer.from('query bytes '.repeat(1000));
    const toClient = Buffer.from('result bytes '.repeat(5000));
    const serverGot = collect(server);
    const clientGot = collect(client);
    client.end(toServer);
    expect(await serverGot).toEqual(toServer);
    server.end(toClient);
    expect(await clientGot).toEqual(toClient);
    const result = await done;
    expect(result).toMatchObject({ bytesFromClient: toServer.length, bytesToClient: toClient.length, error: undefined });
  });

  it('passes a half-close on: after the client ends, the server can still answer', async () => {
    const { client, server, done } = await relayed_();
    const clientGot = collect(client);
    server.on('data', () => undefined);
    server.once('end', () => server.end('late answer'));
    client.end('last words');
    expect((await clientGot).toString()).toBe('late answer');
    expect((await done).closedBy).toBe('client');
  });

  it('ends the client promptly when the server drops, and closes the server when the client drops', async () => {
    // Like libpq and PostgreSQL, each far end closes its side once it sees the other end.
    const a = await relayed_();
    const clientEnded = new Promise((r) => a.client.once('end', r));
    a.client.once('end', () => a.client.end());
    a.client.on('data', () => undefined);
    const started = Date.now();
    a.server.destroy();
    await clientEnded;
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((await a.done).closedBy).toBe('server');

    const b = await relayed_();
    const serverClosed = new Promise((r) => b.server.once('end', r));
    b.server.once('end', () => b.server.end());
    b.server.on('data', () => undefined);
    b.client.destroy();
    await serverClosed;
    expect((await b.done).closedBy).toBe('client');
  });

  it('applies backpressure: a client that stops reading stalls the server instead of filling memory', async () => {
    const { client, server, done } = await relayed_();
    client.pause();
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const total = 256 * 1024 * 1024;
    let accepted = 0;
    // Write until the server's socket stays full for 300 ms: what got through is what the proxy let in.
    await new Promise<void>((resolve) => {
      const pump = (): void => {
        while (accepted < total) {
          accepted += chunk.length;
          if (!server.write(chunk)) {
            const stalled = setTimeout(resolve, 300);
            server.once('drain', () => { clearTimeout(stalled); pump(); });
            return;
          }
        }
        resolve();
      };
      pump();
    });
    expect(accepted).toBeLessThan(64 * 1024 * 1024); // kernel buffers on four sockets, not 256 MiB
    // Once the client reads again, everything arrives.
    let received = 0;
    client.on('data', (c: Buffer) => { received += c.length; });
    client.resume();
    await new Promise<void>((resolve) => {
      const finish = (): void => { server.end(); resolve(); };
      const pump = (): void => {
        while (accepted < total) {
          accepted += chunk.length;
          if (!server.write(chunk)) { server.once('drain', pump); return; }
        }
        finish();
      };
      pump();
    });
    await new Promise((r) => client.once('end', r));
    expect(received).toBe(total);
    client.end();
    expect((await done).bytesToClient).toBe(total);
  });

  it('delivers a large varied stream byte for byte to a client that reads slowly (buffers still referenced by pending writes are not reused)', async () => {
    const { client, server, done } = await relayed_();
    const payload = randomBytes(24 * 1024 * 1024);
    const received = createHash('sha256');
    let bytes = 0;
    let stalledAt = 0;
    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
    client.on('data', (chunk: Buffer) => {
      received.update(chunk);
      bytes += chunk.length;
      // Stall every 2 MiB for long enough to fill the kernel's buffers, so the proxy's writes to the client
      // are left pending (partly written) while the server keeps sending.
      if (bytes - stalledAt > 2 * 1024 * 1024) {
        stalledAt = bytes;
        client.pause();
        setTimeout(() => client.resume(), 30);
      }
    });
    server.end(payload);
    await ended;
    client.end();
    expect(bytes).toBe(payload.length);
    expect(received.digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'));
    expect((await done).bytesToClient).toBe(payload.length);
  });
});

describe('relay from a reused read buffer', () => {
  it('never overwrites a chunk that a pending write still holds', async () => {
    // A client stream whose writes stay pending (as a socket's do when the kernel buffer is full) while its
    // high-water mark lets the relay keep reading: each held chunk must keep the bytes it had when written.
    const held: Buffer[] = [];
    let heldBytes = 0;
    const client = new Duplex({
      writableHighWaterMark: 8 * 1024 * 1024,
      read() { /* nothing from this client */ },
      write(chunk: Buffer, _encoding, callback) { held.push(chunk); heldBytes += chunk.length; setTimeout(callback, 1); },
    });
    const reader = new ReusedBufferReader();
    const [server, proxyServer] = await socketPair(reader.onread);
    reader.bind(proxyServer);
    proxyServer.pause();
    relay(client, proxyServer, () => undefined, reader);
    const payload = randomBytes(4 * 1024 * 1024);
    server.end(payload);
    while (heldBytes < payload.length) await new Promise((r) => setTimeout(r, 5));
    expect(held.length).toBeGreaterThan(1);
    expect(Buffer.concat(held).equals(payload)).toBe(true);
    client.destroy();
    server.destroy();
  });
});

