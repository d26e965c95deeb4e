/** Review of issue 11's drain at the relay: what a client sends after the session was told to end must stay unread. */
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MessageBoundaries } from '../../src/protocol/boundary.js';
import { relay, type RelayControl, type RelayResult } from '../../src/proxy/relay.js';

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

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a relay ended at a message boundary', () => {
  it('reads nothing more from the client while it waits for the server\'s message to end, even once the server reads again', async () => {
    const [proxyClient, client] = await socketPair();
    const [proxyServer, server] = await socketPair();
    client.on('error', () => undefined);
    server.on('error', () => undefined);
    client.resume();
    server.pause(); // the server reads nothing for now: the proxy's writes to it back up and the client is paused
    const boundaries = new MessageBoundaries();
    let control!: RelayControl;
    const done = new Promise<RelayResult>((resolve) => {
      control = relay(proxyClient, proxyServer, resolve, undefined, { fromServer: (chunk) => boundaries.feed(chunk) });
    });
    // The client streams (COPY data, pipelined queries) faster than the server takes it.
    const payload = Buffer.alloc(32 * 1024 * 1024, 0x61);
    client.write(payload);
    await until(() => proxyClient.isPaused() && proxyServer.writableLength > 0);
    // The server is halfway through a 100-byte DataRow when the drain delay runs out.
    const row = Buffer.alloc(105, 0x62);
    row[0] = 0x44;
    row.writeInt32BE(104, 1);
    server.write(row.subarray(0, 20));
    await until(() => !boundaries.atBoundary);
    control.endAtBoundary((chunk) => boundaries.feedToBoundary(chunk), Buffer.from('farewell'), undefined, 5_000);
    const readBefore = control.bytes.fromClient;
    server.resume(); // the server reads again: the proxy's buffer to it drains, which must not restart the client
    await new Promise((r) => setTimeout(r, 500));
    expect(control.bytes.fromClient).toBe(readBefore);
    server.write(row.subarray(20)); // the message ends: the relay ends there
    const result = await done;
    expect(result.bytesFromClient).toBe(readBefore);
    client.destroy();
    server.destroy();
  });
});
