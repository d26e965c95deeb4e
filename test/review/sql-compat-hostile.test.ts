import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { LogCapture, startTestProxy, useRig, type TestProxy } from '../support/harness.js';
import { queryMessage } from '../support/raw-client.js';
import { rawSession } from '../support/sql-compat-clients.js';

/**
 * The SQL compatibility layer (issue 12) attacked by a hostile client: floods, odd message orders, texts built to
 * make the layer misread them. The proxy must stay bounded, keep PostgreSQL's answers and order, and never crash.
 */

const rig = useRig({ proxy: false });
let proxy: TestProxy;
beforeAll(async () => {
  const logs = new LogCapture(false);
  proxy = await startTestProxy(rig.emulator.port, rig.ca, { logLevel: 'info' }, { logger: createLogger('info', logs) }, logs);
});
afterAll(async () => { await proxy.proxy.close(); });

/** Counts the backend messages arriving on `socket` by type, in order of first appearance, until `done` says stop. */
function countFrames(socket: Socket, done: (counts: Map<string, number>, order: string[]) => boolean, timeoutMs: number): Promise<{ counts: Map<string, number>; order: string[] }> {
  socket.removeAllListeners('data');
  const counts = new Map<string, number>();
  const order: string[] = [];
  let pending = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out: ${JSON.stringify([...counts])}`)), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let at = 0;
      while (pending.length - at >= 5 && pending.length - at >= 1 + pending.readInt32BE(at + 1)) {
        const type = String.fromCharCode(pending[at]!);
        counts.set(type, (counts.get(type) ?? 0) + 1);
        if (order.length < 16) order.push(type);
        at += 1 + pending.readInt32BE(at + 1);
      }
      pending = pending.subarray(at);
      if (done(counts, order)) { clearTimeout(timer); resolve({ counts, order }); }
    });
  });
}

describe('a client flooding locally answered queries behind a long one', () => {
  it('is no longer read while too many wait for the server, then gets every answer in order', async () => {
    const { raw } = await rawSession(proxy.port);
    const n = 200_000;
    const piece = Buffer.concat(Array.from({ length: 1000 }, () => queryMessage('SET statement_timeout=1')));
    raw.send(queryMessage('SELECT pg_sleep(3)'));
    for (let i = 0; i < n / 1000; i++) raw.send(piece);
    await new Promise((r) => setTimeout(r, 1500));
    // 5.8 MB sent; a proxy that keeps reading holds ~500 bytes per query (100 MB here) and takes it all at once.
    expect(raw.socket.writableLength).toBeGreaterThan(1_000_000);
    const started = Date.now();
    const { counts, order } = await countFrames(raw.socket, (c) => (c.get('Z') ?? 0) === n + 1, 60_000);
    expect(order.slice(0, 7)).toEqual(['T', 'D', 'C', 'Z', 'N', 'C', 'Z']);
    expect([counts.get('N'), counts.get('C'), counts.get('Z'), counts.get('E')]).toEqual([n, n + 1, n + 1, undefined]);
    // Releasing the backlog is linear: a quadratic queue took minutes for this many, blocking every session.
    expect(Date.now() - started).toBeLessThan(30_000);
    raw.socket.destroy();
  }, 90_000);
});
