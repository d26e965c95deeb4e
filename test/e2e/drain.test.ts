import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MessageBoundaries } from '../../src/protocol/boundary.js';
import { parseErrorResponse } from '../../src/protocol/messages.js';
import { serializeStartupMessage } from '../../src/protocol/startup.js';
import { pgClient, useRig } from '../support/harness.js';
import { queryMessage, RawClient } from '../support/raw-client.js';
import { startTestProxy } from '../support/harness.js';

const startup = serializeStartupMessage(196608, [['user', 'admin'], ['database', 'postgres']]);
const SHUTDOWN_MESSAGE = 'terminating connection: dsql-proxy is shutting down';

/** Resolves with the error a TCP connect to `port` fails with (or undefined if it connects). */
function connectFailure(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(undefined); });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code));
  });
}

describe('draining a listener', () => {
  const rig = useRig({ proxy: false });

  it('stops accepting at once and lets a transaction in flight commit; it resolves as soon as that session ends', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca);
    const client = await pgClient(proxy.port);
    await client.query('begin');
    await client.query('create temporary table drained (n int)');
    const started = performance.now();
    const drained = proxy.proxy.server.drain(30_000);
    expect(await connectFailure(proxy.port)).toBe('ECONNREFUSED');
    await client.query('insert into drained values (1), (2)');
    expect((await client.query('select sum(n)::int as total from drained')).rows).toEqual([{ total: 3 }]);
    await client.query('commit');
    await client.end();
    await drained;
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(proxy.logs.closeLineWith(0, { outcome: 'relayed' })).toBeDefined();
    await proxy.proxy.close();
  });

  it('past the delay, tells an idle session FATAL 57P01 and closes it', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca);
    const client = await pgClient(proxy.port);
    const failed = new Promise<Error & { code?: string; severity?: string; hint?: string }>((resolve) => client.once('error', resolve));
    await client.query('select 1');
    const started = performance.now();
    await proxy.proxy.server.drain(300);
    const elapsed = performance.now() - started;
    const error = await failed;
    expect(error.code).toBe('57P01');
    expect(error.severity).toBe('FATAL');
    expect(error.message).toBe(SHUTDOWN_MESSAGE);
    expect(error.hint).toMatch(/--max-sigterm-delay/);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(3_000);
    expect(proxy.logs.closeLineWith(0, { outcome: 'shutdown' })).toBeDefined();
    await proxy.proxy.close();
  });

  it('cuts a session receiving a large result only between two messages: every message whole, then the FATAL', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca);
    const client = await RawClient.connect(proxy.port);
    client.send(startup);
    await client.until('Z');
    // Rows of 256 KiB: a cut at an arbitrary byte would almost surely land inside one.
    const raw: Buffer[] = [];
    client.socket.on('data', (chunk: Buffer) => raw.push(chunk));
    client.send(queryMessage("select repeat('x', 262144) from generate_series(1, 2000)"));
    await new Promise<void>((resolve) => {
      const check = (): void => { if (raw.reduce((n, c) => n + c.length, 0) > 1_000_000) resolve(); else setTimeout(check, 5); };
      check();
    });
    await proxy.proxy.server.drain(0);
    await client.closed;
    const stream = Buffer.concat(raw);
    const boundaries = new MessageBoundaries();
    boundaries.feed(stream);
    expect(boundaries.atBoundary).toBe(true);
    expect(String.fromCharCode(boundaries.lastType)).toBe('E');
    expect(proxy.logs.withMessage('terminating the session: the drain delay has passed')[0]).toMatchObject({ midMessage: true });
    const frames: Buffer[] = [];
    for (let frame = await client.next(100); frame; frame = await client.next(100)) frames.push(frame);
    const fatal = parseErrorResponse(frames.at(-1)!);
    expect(fatal).toMatchObject({ severity: 'FATAL', code: '57P01', message: SHUTDOWN_MESSAGE });
    // It was cut mid-result: far fewer than 2,000 rows arrived, and no CommandComplete.
    expect(frames.some((f) => f[0] === 0x43)).toBe(false);
    await proxy.proxy.close();
  });

  it('tells a client still in its startup FATAL 57P01 when the delay runs out', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca);
    const client = await RawClient.connect(proxy.port);
    const drained = proxy.proxy.server.drain(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await connectFailure(proxy.port)).toBe('ECONNREFUSED');
    const frame = await client.next(5_000);
    expect(frame && parseErrorResponse(frame)).toMatchObject({ severity: 'FATAL', code: '57P01', message: SHUTDOWN_MESSAGE });
    await drained;
    await client.closed;
    await proxy.proxy.close();
  });
});
