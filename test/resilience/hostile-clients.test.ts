import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseErrorResponse } from '../../src/protocol/messages.js';
import { serializeStartupMessage } from '../../src/protocol/startup.js';
import { fuzzCase, prng, type FuzzCase } from '../support/fuzz.js';
import { endsWithReadyForQuery } from '../support/raw-client.js';
import { LogCapture, psql, startTestProxy, useRig, type TestProxy } from '../support/harness.js';

const rig = useRig({ proxy: false });
const STARTUP_TIMEOUT_S = 1;
let proxy: TestProxy;

beforeAll(async () => {
  // Long runs keep only what the assertions need (open sessions, errors, a secret), so RSS reflects the proxy.
  proxy = await startTestProxy(rig.emulator.port, rig.ca, { startupTimeout: STARTUP_TIMEOUT_S, connectTimeout: 2 }, {}, new LogCapture(false));
});
afterAll(async () => {
  await proxy?.proxy.close();
  expect(proxy.logs.secretLine).toBeUndefined();
});

interface CaseOutcome { readonly received: Buffer; readonly closedByServer: boolean; readonly established: boolean; readonly ms: number }

/** Sends one generated stream and waits for the proxy to close, or for a relayed login (then closes itself). */
function runCase(port: number, c: FuzzCase, limitMs: number): Promise<CaseOutcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket: Socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let received = Buffer.alloc(0);
    let settled = false;
    const settle = (closedByServer: boolean, established: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ received, closedByServer, established, ms: Date.now() - started });
    };
    const timer = setTimeout(() => settle(false, false), limitMs);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      // ReadyForQuery: the garbage happened to be a valid login and the session is being relayed.
      if (endsWithReadyForQuery(received)) settle(false, true);
    });
    socket.on('error', () => undefined);
    socket.once('end', () => settle(true, false)); // the proxy's FIN: the client half-closes, so 'close' may never come
    socket.once('close', () => settle(true, false));
    socket.once('connect', async () => {
      let at = 0;
      for (const split of [...c.splits, c.bytes.length]) {
        if (socket.destroyed) return;
        socket.write(c.bytes.subarray(at, split));
        at = split;
        await new Promise((r) => setImmediate(r));
      }
      if (c.endAfterWrite && !socket.destroyed) socket.end();
    });
  });
}

/** What the client saw is a PostgreSQL answer: 'N' answers to SSL/GSS requests, then an ErrorResponse or a login. */
function expectPostgresAnswer(received: Buffer, c: FuzzCase): void {
  let at = 0;
  while (at < received.length && received[at] === 0x4e && (received.length - at < 5 || received.readInt32BE(at + 1) > 10_000 || received.readInt32BE(at + 1) < 4)) at++;
  if (at >= received.length) return; // nothing but answers, then the close
  const type = String.fromCharCode(received[at]!);
  expect(['E', 'R', 'v'], `${c.kind}: unexpected first message '${type}'`).toContain(type);
  if (type === 'E') expect(parseErrorResponse(received.subarray(at)).severity).toBe('FATAL');
}

describe('malformed client input, fuzzed', () => {
  const runs = Number(process.env.FUZZ_RUNS ?? 3_000);
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

  it(`ends each of ${runs} generated streams with an ErrorResponse or a close, and keeps serving`, async () => {
    console.log(`fuzz: ${runs} streams, seed ${seed} (replay with FUZZ_SEED=${seed})`);
    const random = prng(seed);
    const handlesBefore = process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length;
    const rssBefore = process.memoryUsage().rss;
    const kinds = new Map<string, number>();
    const limitMs = (STARTUP_TIMEOUT_S + 3) * 1000;
    let next = 0;
    let goodClient: Promise<{ stdout: string }> | undefined;
    const worker = async (): Promise<void> => {
      while (next < runs) {
        const index = next++;
        if (index === Math.floor(runs / 2)) goodClient = psql(proxy.port, ['-At', '-c', 'select 42']);
        const c = fuzzCase(random);
        kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
        const outcome = await runCase(proxy.port, c, limitMs);
        expect(outcome.closedByServer || outcome.established, `${c.kind} #${index} (seed ${seed}) neither closed nor answered within ${limitMs} ms`).toBe(true);
        expectPostgresAnswer(outcome.received, c);
      }
    };
    await Promise.all(Array.from({ length: 48 }, worker));
    expect((await goodClient!).stdout.trim()).toBe('42');
    console.log(`fuzz kinds: ${JSON.stringify(Object.fromEntries(kinds))}`);

    for (let i = 0; i < 50 && proxy.proxy.server.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 100));
    const stuck = [...proxy.logs.open.values()].flat();
    expect(proxy.proxy.server.openConnections, `sessions never closed: ${JSON.stringify(stuck.slice(0, 40))}`).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    const handlesAfter = process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length;
    expect(handlesAfter).toBeLessThanOrEqual(handlesBefore + 2);
    const growthMb = (process.memoryUsage().rss - rssBefore) / 1048576;
    console.log(`fuzz: RSS growth ${growthMb.toFixed(1)} MB, TCP handles ${handlesBefore} → ${handlesAfter}`);
    expect(growthMb).toBeLessThan(200); // generous: the test process holds the emulator and the clients too
    expect(proxy.logs.errors).toEqual([]);
  }, 600_000);
});

describe('slow clients', () => {
  it('closes 1,000 clients that dribble a startup packet a byte a second at the startup timeout, serving others meanwhile', async () => {
    const packet = serializeStartupMessage(196608, [['user', 'admin'], ['database', 'postgres']]);
    const sockets: Socket[] = [];
    const closed: Promise<number>[] = [];
    const started = Date.now();
    for (let i = 0; i < 1000; i++) {
      const s = connect(proxy.port, '127.0.0.1');
      s.on('error', () => undefined);
      s.on('data', () => undefined);
      closed.push(new Promise((resolve) => s.once('close', () => resolve(Date.now() - started))));
      sockets.push(s);
    }
    let offset = 0;
    const dribble = setInterval(() => { for (const s of sockets) if (!s.destroyed) s.write(packet.subarray(offset, offset + 1)); offset++; }, 1000);
    const served = await psql(proxy.port, ['-At', '-c', 'select 7']);
    expect(served.stdout.trim()).toBe('7');
    const times = await Promise.all(closed);
    clearInterval(dribble);
    expect(Math.max(...times)).toBeLessThan((STARTUP_TIMEOUT_S + 2) * 1000);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(STARTUP_TIMEOUT_S * 1000 - 100);
  });
});
