import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompatExchange } from '../../src/compat/exchange.js';
import { postgres } from '../support/harness.js';
import { queryMessage } from '../support/raw-client.js';
import { bind, describePortal, execute, parse, summary, sync } from '../support/sql-compat-clients.js';
import { startupMessage } from '../support/wire.js';

/**
 * The compat exchange (src/compat/exchange.ts) against the real PostgreSQL's answers, cut into chunks of every
 * small size on both sides: a hostile or merely slow network splits messages anywhere, even inside a header. The
 * client must get exactly what it gets when every chunk is whole, and the server exactly the same bytes.
 */

let socket: Socket;
let backendPid = 0;
/** Bytes PostgreSQL sent since the last take(). */
let received: Buffer[] = [];

beforeAll(async () => {
  const { port, adminUser } = postgres();
  socket = connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.write(startupMessage([['user', adminUser], ['database', 'postgres']]));
  const login = await quiet();
  const at = login.indexOf(Buffer.from([0x4b, 0, 0, 0, 12]));
  backendPid = login.readInt32BE(at + 5);
});
afterAll(() => { socket.destroy(); });

/** Everything PostgreSQL sends until it has been silent for a while. */
async function quiet(): Promise<Buffer> {
  let size = -1;
  while (size !== received.reduce((n, b) => n + b.length, 0)) {
    size = received.reduce((n, b) => n + b.length, 0);
    await new Promise((r) => setTimeout(r, 150));
  }
  const out = Buffer.concat(received);
  received = [];
  return out;
}

/** Feeds `bytes` to `take` in chunks of `size`; returns what passed and what the exchange sent instead, in order. */
function feed(bytes: Buffer, size: number, take: (chunk: Buffer) => boolean, sent: Buffer[]): void {
  for (let at = 0; at < bytes.length; at += size) {
    // A copy, as a reused read buffer would be overwritten after the call.
    const chunk = Buffer.from(bytes.subarray(at, at + size));
    if (take(chunk)) sent.push(Buffer.from(chunk));
    chunk.fill(0xee);
  }
}

/** Runs `client` through a fresh exchange with chunk sizes `clientSize`/`serverSize` against the server's `reply`. */
function through(client: Buffer, reply: Buffer | undefined, clientSize: number, serverSize: number): { toServer: Buffer; toClient: Buffer } {
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  const exchange = new CompatExchange({ toServer: (b) => toServer.push(Buffer.from(b)), toClient: (b) => toClient.push(Buffer.from(b)) },
    { backendPid, initialStatus: 'I' });
  feed(client, clientSize, (c) => exchange.fromClient(c), toServer);
  if (reply) feed(reply, serverSize, (c) => exchange.fromServer(c), toClient);
  return { toServer: Buffer.concat(toServer), toClient: Buffer.concat(toClient) };
}

/** Splits concatenated backend messages into frames. */
const frames = (bytes: Buffer): Buffer[] => {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 1 + bytes.readInt32BE(at + 1)) out.push(bytes.subarray(at, at + 1 + bytes.readInt32BE(at + 1)));
  return out;
};

const SCENARIOS: Record<string, Buffer> = {
  "pgAdmin's connect batch": queryMessage("SET DateStyle=ISO; SET client_min_messages=notice; SELECT set_config('bytea_output','hex',false) "
    + "FROM pg_show_all_settings() WHERE name = 'bytea_output'; SET client_encoding='utf-8';"),
  'pipelined Queries, local between remote, one failing': Buffer.concat([
    queryMessage('SELECT generate_series(1, 3)'), queryMessage('SET statement_timeout=1'), queryMessage('SELECT pg_backend_pid() AS pid'),
    queryMessage('BEGIN; SET LOCAL lock_timeout=1; SELECT 1/0; SET work_mem=1'), queryMessage('SET statement_timeout=1'), queryMessage('ROLLBACK'),
  ]),
  'extended groups: local, remote, local binary, then a local-only group': Buffer.concat([
    parse('SET statement_timeout = 5000'), bind(), describePortal(), execute(),
    parse('SELECT 1'), bind(), describePortal(), execute(),
    parse('SELECT pg_backend_pid()'), bind('', [1]), describePortal(), execute(), sync(),
    parse('SET lock_timeout = 1', 'lt'), bind('lt'), execute(), sync(),
  ]),
};

describe.each(Object.entries(SCENARIOS))('%s', (_name, client) => {
  it('gives the same bytes both ways whatever the chunk sizes, down to one byte', async () => {
    const whole = through(client, undefined, client.length, 1);
    socket.write(whole.toServer);
    const reply = await quiet();
    const expected = through(client, reply, client.length, reply.length);
    // Sanity: every Query or Sync of the client got one ReadyForQuery, and PostgreSQL saw no protocol error.
    const ready = summary(frames(expected.toClient)).filter((s) => s.startsWith('Z:'));
    expect(ready.length).toBeGreaterThan(0);
    expect(summary(frames(expected.toClient))).not.toContain('E:08P01');
    for (const size of [1, 2, 3, 4, 5, 6, 7, 11, 13, 64]) {
      for (const [clientSize, serverSize] of [[size, reply.length], [client.length, size], [size, size]] as const) {
        const cut = through(client, reply, clientSize, serverSize);
        expect(cut.toServer, `client chunks of ${clientSize}`).toEqual(whole.toServer);
        expect(summary(frames(cut.toClient)), `client ${clientSize}, server ${serverSize}`).toEqual(summary(frames(expected.toClient)));
        expect(cut.toClient.equals(expected.toClient)).toBe(true);
      }
    }
  });
});
