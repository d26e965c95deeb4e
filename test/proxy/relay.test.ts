import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { relay, type RelayResult } from '../../src/proxy/relay.js';

/** A connected pair of real loopback sockets: [near, far]. */
async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const far = connect({ port: (server.address() as { port: number }).port, host: '127.0.0.1', allowHalfOpen: true });
  const near = await accepted;
  server.close();
  await new Promise((r) => far.once('connect', r));
  return [near, far];
}

/** client ⇄ [proxyClient relay proxyServer] ⇄ server, all real sockets. */
async function relayed(): Promise<{ client: Socket; server: Socket; done: Promise<RelayResult> }> {
  const [proxyClient, client] = await socketPair();
  const [proxyServer, server] = await socketPair();
  const done = new Promise<RelayResult>((resolve) => relay(proxyClient, proxyServer, resolve));
  return { client, server, done };
}

const collect = (socket: Socket): Promise<Buffer> => new Promise((resolve) => {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.once('end', () => resolve(Buffer.concat(chunks)));
});

describe('relay', () => {
  it('carries bytes both ways unchanged and reports the counts once both sides closed', async () => {
    const { client, server, done } = await relayed();
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
    const { client, server, done } = await relayed();
    const clientGot = collect(client);
    server.on('data', () => undefined);
    server.once('end', () => server.end('late answer'));
    client.end('last words');
    expect((await clientGot).toString()).toBe('late answer');
    expect((await done).closedBy).toBe('client');
  });

  it('ends the client promptly when the server drops, and closes the server when the client drops', async () => {
    // Like libpq and PostgreSQL, each far end closes its side once it sees the other end.
    const a = await relayed();
    const clientEnded = new Promise((r) => a.client.once('end', r));
    a.client.once('end', () => a.client.end());
    a.client.on('data', () => undefined);
    const started = Date.now();
    a.server.destroy();
    await clientEnded;
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((await a.done).closedBy).toBe('server');

    const b = await relayed();
    const serverClosed = new Promise((r) => b.server.once('end', r));
    b.server.once('end', () => b.server.end());
    b.server.on('data', () => undefined);
    b.client.destroy();
    await serverClosed;
    expect((await b.done).closedBy).toBe('client');
  });

  it('applies backpressure: a client that stops reading stalls the server instead of filling memory', async () => {
    const { client, server, done } = await relayed();
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
});
