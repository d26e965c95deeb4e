import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { LogCapture, postgres, startTestProxy, useRig, type TestProxy } from '../support/harness.js';
import { queryMessage } from '../support/raw-client.js';
import { bind, execute, parse, rawSession, summary, sync, withSession, withoutManaged } from '../support/sql-compat-clients.js';
import { message } from '../support/wire.js';

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
  let pending: Buffer = Buffer.alloc(0);
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

describe('a client sending one Query of thousands of locally answered statements', () => {
  it('gets up to 1000 of them answered, and a Query with more sent to Aurora DSQL as it is (which refuses the first)', async () => {
    const { raw } = await rawSession(proxy.port);
    // Each answer held costs a few hundred bytes: a 1 MiB Query of `set a=1;` made the proxy hold ~50 MB for it.
    raw.send(queryMessage('SET statement_timeout=1;'.repeat(1000)));
    const answered = summary(await raw.until('Z'));
    expect([answered.length, answered.filter((s) => s === 'C:SET').length, answered.at(-1)]).toEqual([2001, 1000, 'Z:I']);
    raw.send(queryMessage('SET statement_timeout=1;'.repeat(1001)));
    expect(summary(await raw.until('Z'))).toEqual(['E:0A000', 'Z:I']);
    raw.socket.end();
  });
});

describe('the logs', () => {
  it('carry no value of an answered statement even at trace level, and nothing per statement at info level', async () => {
    const trace = await startTestProxy(rig.emulator.port, rig.ca);
    const values = ['s3cret-timeout-1', 's3cret-config-2', 's3cret-extended-3', 's3cret-role-4'];
    const send = async (port: number): Promise<void> => {
      await withSession(port, async ({ client }) => {
        await client.query(`SET DateStyle=ISO; SET statement_timeout = '${values[0]}'; SELECT set_config('bytea_output', '${values[1]}', false)`);
        await client.query(`SET ROLE "${values[3]}"`);
      });
      const { raw } = await rawSession(port);
      raw.send(Buffer.concat([parse(`SET lock_timeout = '${values[2]}'`), bind(), execute(), sync()]));
      await raw.until('Z');
      raw.socket.end();
    };
    try {
      await send(trace.port);
      await trace.logs.closeLineAt(1);
      expect(trace.logs.text).toContain('answered locally');
      for (const value of values) expect(trace.logs.text).not.toContain(value);
    } finally {
      await trace.proxy.close();
    }
    const logs = new LogCapture();
    const info = await startTestProxy(rig.emulator.port, rig.ca, { logLevel: 'info' }, { logger: createLogger('info', logs) }, logs);
    try {
      await send(info.port);
      await logs.closeLineAt(1);
      // Each session logs its own lines (accepted, closed…), none per statement answered.
      expect(logs.lines.filter((l) => l.msg !== 'dsql-proxy listening' && /answered|statement|compat/i.test(JSON.stringify(l)))).toEqual([]);
    } finally {
      await info.proxy.close();
    }
  });
});

describe("an application's own (dotted) parameter", () => {
  it('is not answered: Aurora DSQL refuses SET app.tenant and set_config of it, so the app never reads back a value it did not set', async () => {
    const { raw } = await rawSession(proxy.port);
    for (const sql of ["SET app.tenant = '42'", "SET LOCAL app.tenant = '42'", "SELECT set_config('app.tenant', '42', false)", 'RESET app.tenant']) {
      raw.send(queryMessage(sql));
      expect(summary(await raw.until('Z')), sql).toEqual(['E:0A000', 'Z:I']);
    }
    raw.send(queryMessage("SET statement_timeout = '1s'"));
    expect(withoutManaged(summary(await raw.until('Z')))).toEqual(['C:SET', 'Z:I']);
    raw.socket.end();
  });
});

/** Each scenario runs straight at PostgreSQL and through the proxy, with the same assertions (as in sql-compat.test.ts). */
const TARGETS = [
  { name: 'PostgreSQL itself', viaProxy: false, port: () => postgres().port },
  { name: 'dsql-proxy in front of the emulator', viaProxy: true, port: () => proxy.port },
] as const;

/** A Query message holding exactly `text` (which may hold NUL bytes or any encoding) and its terminating NUL. */
const rawQuery = (text: Buffer): Buffer => message('Q', text, Buffer.from([0]));

/** Sends each message on a fresh session and summarises every answer up to its ReadyForQuery. */
async function answers(port: number, messages: readonly Buffer[]): Promise<string[][]> {
  const { raw } = await rawSession(port);
  const out: string[][] = [];
  for (const m of messages) { raw.send(m); out.push(summary(await raw.until('Z'))); }
  raw.socket.end();
  return out;
}

describe.each(TARGETS)('$name', (target) => {
  it('refuses a Query whose text holds a NUL (08P01) without running any of it, a locally answerable SET included', async () => {
    const seen = await answers(target.port(), [
      rawQuery(Buffer.from("SELECT 'ran' AS x; SET statement_timeout=1 /*\0*/")),
      rawQuery(Buffer.from("SELECT 'ran'; SET statement_timeout=1 --\0")),
    ]);
    expect(seen).toEqual([['E:08P01', 'Z:I'], ['E:08P01', 'Z:I']]);
  });

  it('refuses a Query with an unterminated quote or comment as a whole (42601), answering none of its SETs', async () => {
    const seen = await answers(target.port(), [
      queryMessage("SET statement_timeout=1; SELECT 'oops"),
      queryMessage('SET statement_timeout=1; SELECT 1 /* never closed'),
      queryMessage("SELECT set_config('lock_timeout', '1', false); SELECT $a$ no end"),
    ]);
    expect(seen).toEqual([['E:42601', 'Z:I'], ['E:42601', 'Z:I'], ['E:42601', 'Z:I']]);
  });

  it("reads E'…' in a client-only encoding as the server does: a SJIS or BIG5 character ending in 0x5C does not end the string", async () => {
    // ソ in SJIS and 功 in BIG5 end in 0x5C (a backslash byte); the server decodes the character, so `''` after it is
    // a quote inside the string, and the whole text is one SELECT of one string.
    const text = (encoding: string, character: number[]): Buffer[] => [
      queryMessage(`SET client_encoding = '${encoding}'`),
      rawQuery(Buffer.concat([Buffer.from("SELECT E'"), Buffer.from(character), Buffer.from("''; SET statement_timeout=1;' AS v")])),
    ];
    for (const [encoding, character] of [['SJIS', [0x83, 0x5c]], ['BIG5', [0xa5, 0x5c]]] as const) {
      const seen = await answers(target.port(), text(encoding, [...character]));
      expect(withoutManaged(seen[1]!).map((s) => s.replace(/^D:.*'/s, "D:…'"))).toEqual(['T', "D:…'; SET statement_timeout=1;", 'C:SELECT 1', 'Z:I']);
    }
  });
});
