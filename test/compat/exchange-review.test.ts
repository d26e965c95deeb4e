import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CompatExchange } from '../../src/compat/exchange.js';
import { postgres } from '../support/harness.js';
import { prng } from '../support/fuzz.js';
import { cstring, int16, int32, message, parseErrorFields, startupMessage } from '../support/wire.js';

// Review tests of the compat exchange against the real PostgreSQL the global setup starts: the same client
// messages are sent to PostgreSQL directly and through the exchange (whose server is another PostgreSQL session),
// and the client must see the same messages (NOTICEs aside: the proxy adds its own). Statements the layer answers
// are ones PostgreSQL accepts too (SET client_min_messages, set_config of statement_timeout, pg_backend_pid()).

/** Frontend messages (protocol docs §55.7). */
const fe = {
  query: (sql: string): Buffer => message('Q', cstring(sql)),
  parse: (name: string, sql: string): Buffer => message('P', cstring(name), cstring(sql), int16(0)),
  bind: (portal: string, statement: string): Buffer => message('B', cstring(portal), cstring(statement), int16(0), int16(0), int16(0)),
  describe: (target: 'S' | 'P', name: string): Buffer => message('D', Buffer.from(target), cstring(name)),
  execute: (portal = '', maxRows = 0): Buffer => message('E', cstring(portal), int32(maxRows)),
  close: (target: 'S' | 'P', name: string): Buffer => message('C', Buffer.from(target), cstring(name)),
  sync: (): Buffer => message('S'),
  flush: (): Buffer => message('H'),
};

const END_MARKER = 'end-of-case';
/** Sent after every case: its answer (a row holding END_MARKER, then ReadyForQuery) ends the case. */
const END = fe.query(`ROLLBACK; SELECT '${END_MARKER}'`);

/** Cuts a byte stream into whole messages. */
function frames(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; bytes.length - at >= 5;) {
    const end = at + 1 + bytes.readInt32BE(at + 1);
    if (end > bytes.length) break;
    out.push(bytes.subarray(at, end));
    at = end;
  }
  return out;
}

const text = (frame: Buffer, from: number): string => frame.toString('utf8', from, frame.indexOf(0, from));

/** A backend message in short (type and tag, status, SQLSTATE, column or values); `pid` is shown as PID. */
function summary(frame: Buffer, pid: number): string {
  const type = String.fromCharCode(frame[0]!);
  switch (type) {
    case 'C': return `C:${text(frame, 5)}`;
    case 'Z': return `Z:${String.fromCharCode(frame[5]!)}`;
    case 'E': return `E:${parseErrorFields(frame).C}`;
    case 'T': return `T:${text(frame, 7)}`;
    case 'D': {
      const values: string[] = [];
      for (let at = 7, i = 0; i < frame.readInt16BE(5); i++) {
        const length = frame.readInt32BE(at);
        const value = length < 0 ? 'NULL' : frame.toString('utf8', at + 4, at + 4 + length);
        values.push(value === String(pid) ? 'PID' : value);
        at += 4 + Math.max(0, length);
      }
      return `D:${values.join(',')}`;
    }
    default: return type;
  }
}

/** True once `bytes` holds the END row followed by a ReadyForQuery. */
function ended(bytes: Buffer): boolean {
  const at = bytes.lastIndexOf(END_MARKER);
  return at >= 0 && bytes.indexOf(Buffer.from([0x5a, 0, 0, 0, 5]), at) >= 0;
}

/** A session with the test PostgreSQL at the byte level: login done, then raw bytes both ways. */
class PgLink {
  private received: Buffer[] = [];
  private onData: ((chunk: Buffer) => void) | undefined;
  private constructor(readonly socket: Socket, readonly pid: number) {}

  static async open(): Promise<PgLink> {
    const { port, adminUser } = postgres();
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let login = Buffer.alloc(0);
    const pid = await new Promise<number>((resolve, reject) => {
      socket.once('error', reject);
      socket.on('data', function read(chunk: Buffer) {
        login = Buffer.concat([login, chunk]);
        const all = frames(login);
        if (all.some((f) => f[0] === 0x5a)) {
          socket.off('data', read);
          resolve(all.find((f) => f[0] === 0x4b)!.readInt32BE(5));
        }
      });
      socket.write(startupMessage([['user', adminUser], ['database', 'postgres']]));
    });
    const link = new PgLink(socket, pid);
    socket.on('data', (chunk: Buffer) => { link.received.push(chunk); link.onData?.(chunk); });
    return link;
  }

  /** Calls `handler` with each chunk the server sends from now on (instead of keeping it). */
  forward(handler: (chunk: Buffer) => void): void {
    this.onData = handler;
  }

  /** Bytes received so far (when not forwarded). */
  bytes(): Buffer {
    return Buffer.concat(this.received);
  }

  close(): void {
    this.socket.destroy();
  }
}

async function until(done: () => boolean, what: () => string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** What PostgreSQL itself answers to `input` (then END), NOTICEs left out. */
async function direct(input: Buffer): Promise<string[]> {
  const link = await PgLink.open();
  try {
    link.socket.write(Buffer.concat([input, END]));
    await until(() => ended(link.bytes()), () => frames(link.bytes()).map((f) => summary(f, link.pid)).join(' '));
    return frames(link.bytes()).map((f) => summary(f, link.pid)).filter((s) => s !== 'N');
  } finally {
    link.close();
  }
}

/** How the client's bytes reach the exchange: one chunk, byte by byte, or cut at the given offsets. */
type Chunking = 'whole' | 'bytes' | readonly number[];

function cut(input: Buffer, chunking: Chunking): Buffer[] {
  if (chunking === 'whole') return [input];
  if (chunking === 'bytes') return [...input].map((b) => Buffer.from([b]));
  const out: Buffer[] = [];
  let from = 0;
  for (const at of [...chunking, input.length]) { if (at > from) out.push(input.subarray(from, at)); from = Math.max(from, at); }
  return out;
}

/** The exchange's result for `input`: the bytes it sent up (all client input is fed before any answer). */
interface Through { readonly upstream: Buffer; readonly answer: string[] }

/** What the client sees when `input` goes through an exchange to PostgreSQL, NOTICEs left out. */
async function through(input: Buffer, chunking: Chunking): Promise<Through> {
  const link = await PgLink.open();
  const up: Buffer[] = [];
  const down: Buffer[] = [];
  const exchange = new CompatExchange({
    toServer: (bytes) => { up.push(Buffer.from(bytes)); },
    toClient: (bytes) => { down.push(Buffer.from(bytes)); },
  }, { backendPid: link.pid, initialStatus: 'I' });
  link.forward((chunk) => { if (exchange.fromServer(chunk)) down.push(Buffer.from(chunk)); });
  try {
    for (const chunk of [...cut(input, chunking), END]) {
      if (exchange.fromClient(chunk)) up.push(Buffer.from(chunk));
    }
    const upstream = Buffer.concat(up);
    link.socket.write(upstream);
    const got = (): Buffer => Buffer.concat(down);
    await until(() => ended(got()), () => frames(got()).map((f) => summary(f, link.pid)).join(' '));
    return { upstream, answer: frames(got()).map((f) => summary(f, link.pid)).filter((s) => s !== 'N') };
  } finally {
    link.close();
  }
}


/** Statements the layer answers itself, all legal in PostgreSQL. */
const LOCAL = [
  'SET client_min_messages = warning',
  "SELECT set_config('statement_timeout', '0', false)",
  'SELECT pg_backend_pid()',
  'RESET lock_timeout',
  'SET LOCAL statement_timeout = 0',
];
/** Statements that go to the server. */
const REMOTE = ['SELECT 1', 'SELECT 1/0', 'BEGIN', 'COMMIT', 'ROLLBACK', 'SELECT 2'];

/** A random client input (messages and a short description of each), always ending in Sync. */
function randomCase(seed: number): { input: Buffer; steps: string[] } {
  const next = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  // A local statement ahead of a COMMIT or ROLLBACK in one Query or group is a known divergence when the
  // transaction turns out failed (see 'known divergences' below): such a COMMIT or ROLLBACK becomes SELECT 2.
  let localFirst = false;
  let anyRemote = false;
  const statement = (): string => {
    const sql = next() < 0.5 ? pick(LOCAL) : pick(REMOTE);
    if (LOCAL.includes(sql)) { if (!anyRemote) localFirst = true; return sql; }
    anyRemote = true;
    return localFirst && (sql === 'COMMIT' || sql === 'ROLLBACK') ? 'SELECT 2' : sql;
  };
  const groupEnds = (): void => { localFirst = false; anyRemote = false; };
  const parts: Buffer[] = [];
  const steps: string[] = [];
  const add = (step: string, bytes: Buffer): void => { steps.push(step); parts.push(bytes); };
  let unsynced = false;
  const count = 2 + Math.floor(next() * 7);
  for (let i = 0; i < count; i++) {
    const r = next();
    if (r < 0.3 && (!unsynced || next() < 0.15)) {
      groupEnds();
      const sql = Array.from({ length: 1 + Math.floor(next() * 3) }, statement).join('; ');
      add(`Q ${sql}`, fe.query(sql));
      groupEnds();
      unsynced = false;
    } else if (r < 0.85) {
      // Named statements are never reused or closed here: see the known divergences below.
      const name = next() < 0.5 ? '' : `s${i}`;
      const sql = statement();
      // Always bound: a portal left from an earlier group is not followed (see the report of this review).
      add(`P ${name} ${sql}`, fe.parse(name, sql));
      add(`B ${name}`, fe.bind('', name));
      if (next() < 0.3) add('D P', fe.describe('P', ''));
      if (next() < 0.2) add(`D S ${name}`, fe.describe('S', name));
      const rows = next() < 0.2 ? 1 : 0;
      add(`E ${rows}`, fe.execute('', rows));
      // Run again: a SELECT's portal completes with SELECT 0; a SET's fails (55000), which inside a block is a
      // known divergence when later messages reach the server (see below), so only SELECTs are run again.
      if (sql.startsWith('SELECT') && next() < 0.3) add('E 0', fe.execute('', 0));
      unsynced = true;
    } else if (r < 0.93) {
      add('H', fe.flush());
    } else {
      add('S', fe.sync());
      groupEnds();
      unsynced = false;
    }
    if (unsynced && next() < 0.4) { add('S', fe.sync()); groupEnds(); unsynced = false; }
  }
  add('S', fe.sync());
  return { input: Buffer.concat(parts), steps };
}

/** Offsets that cut every message of `input` in two (never whole in one chunk), one byte into its header. */
function everyMessageCut(input: Buffer): number[] {
  return frames(input).flatMap((f) => { const at = f.byteOffset - input.byteOffset; return [at + 1, at + f.length - 1]; });
}

const SEEDS = Array.from({ length: Number(process.env.COMPAT_REVIEW_CASES ?? 60) }, (_, i) => i + 1);

describe('the exchange against real PostgreSQL as oracle', () => {
  it.each(SEEDS)('gives the client what PostgreSQL gives, however the client stream is cut (seed %i)', async (seed) => {
    const { input, steps } = randomCase(seed);
    const expected = await direct(input);
    const whole = await through(input, 'whole');
    const split = await through(input, everyMessageCut(input));
    // Each message a chunk of its own: the fast path with every message ending exactly at its chunk's end.
    const each = await through(input, frames(input).map((f) => f.byteOffset - input.byteOffset));
    const context = steps.join(' | ');
    expect(whole.answer, context).toEqual(expected);
    expect(split.answer, context).toEqual(expected);
    expect(each.answer, context).toEqual(expected);
    // The fast path (messages whole in one chunk) and the slow one (gathered) send the server the same bytes.
    expect(split.upstream.equals(whole.upstream), context).toBe(true);
    expect(each.upstream.equals(whole.upstream), context).toBe(true);
  });
});

describe('the exchange against real PostgreSQL, cases found by the random test', () => {
  // PostgreSQL: a SET's portal is done once run, and Execute of it again fails with 55000 "portal cannot be run".
  it('refuses a second Execute of a local SET portal with 55000 and skips to Sync', async () => {
    const input = Buffer.concat([fe.parse('', 'SET client_min_messages = warning'), fe.bind('', ''), fe.execute('', 1),
      fe.execute('', 0), fe.parse('', 'SELECT 1'), fe.bind('', ''), fe.execute(), fe.sync()]);
    const expected = await direct(input);
    expect(expected.slice(0, 5)).toEqual(['1', '2', 'C:SET', 'E:55000', 'Z:I']);
    expect((await through(input, 'whole')).answer).toEqual(expected);
    expect((await through(input, 'bytes')).answer).toEqual(expected);
  });

  it('completes a second Execute of a local pg_backend_pid() portal with SELECT 0, as PostgreSQL does', async () => {
    const input = Buffer.concat([fe.parse('', 'SELECT pg_backend_pid()'), fe.bind('', ''), fe.execute('', 0),
      fe.execute('', 0), fe.execute('', 1), fe.sync()]);
    const expected = await direct(input);
    expect(expected.slice(0, 7)).toEqual(['1', '2', 'D:PID', 'C:SELECT 1', 'C:SELECT 0', 'C:SELECT 0', 'Z:I']);
    expect((await through(input, 'whole')).answer).toEqual(expected);
  });
});

/** The client's messages, cut in the three ways the framer must treat alike. */
async function sameEveryWay(input: Buffer): Promise<string[]> {
  const expected = await direct(input);
  const whole = await through(input, 'whole');
  const bytes = await through(input, 'bytes');
  const cutAll = await through(input, everyMessageCut(input));
  expect(whole.answer).toEqual(expected);
  expect(bytes.answer).toEqual(expected);
  expect(cutAll.answer).toEqual(expected);
  expect(bytes.upstream.equals(whole.upstream)).toBe(true);
  expect(cutAll.upstream.equals(whole.upstream)).toBe(true);
  return expected;
}

const LOCAL_SET = 'SET client_min_messages = warning';

describe('the layer\'s own errors and failed transactions, as PostgreSQL', () => {
  it('refuses a Parse reusing a local name with 42P05, the name keeping its statement', async () => {
    const expected = await sameEveryWay(Buffer.concat([fe.parse('st', LOCAL_SET), fe.sync(), fe.parse('st', 'SELECT 1'), fe.bind('', 'st'),
      fe.execute(), fe.sync(), fe.bind('', 'st'), fe.execute(), fe.sync()]));
    expect(expected.slice(0, 7)).toEqual(['1', 'Z:I', 'E:42P05', 'Z:I', '2', 'C:SET', 'Z:I']);
  });

  it('reports E after its own 42P05 in a block, and refuses a local group pipelined after it with 25P02', async () => {
    const expected = await sameEveryWay(Buffer.concat([fe.query('BEGIN'), fe.parse('st', LOCAL_SET), fe.sync(), fe.parse('st', LOCAL_SET),
      fe.sync(), fe.parse('', LOCAL_SET), fe.bind('', ''), fe.execute(), fe.sync(), fe.query('ROLLBACK')]));
    expect(expected.slice(0, 8)).toEqual(['C:BEGIN', 'Z:T', '1', 'Z:T', 'E:42P05', 'Z:E', 'E:25P02', 'Z:E']);
  });

  it('answers a local statement after a pipelined ROLLBACK of a failed block, and refuses one before it', async () => {
    const expected = await sameEveryWay(Buffer.concat([fe.query('BEGIN'), fe.query('SELECT 1/0'), fe.query(`ROLLBACK; ${LOCAL_SET}`),
      fe.query('BEGIN'), fe.query('SELECT 1/0'), fe.query(`SELECT 1; ${LOCAL_SET}`), fe.query('ROLLBACK')]));
    expect(expected.slice(4, 7)).toEqual(['C:ROLLBACK', 'C:SET', 'Z:I']);
  });

  it('forgets a local portal at a Sync that ends the implicit transaction (34000 after it)', async () => {
    const expected = await sameEveryWay(Buffer.concat([fe.parse('', LOCAL_SET), fe.bind('', ''), fe.sync(), fe.execute(), fe.sync()]));
    expect(expected.slice(0, 5)).toEqual(['1', '2', 'Z:I', 'E:34000', 'Z:I']);
  });

  it('keeps a local portal across a Sync inside a block', async () => {
    const expected = await sameEveryWay(Buffer.concat([fe.query('BEGIN'), fe.parse('', LOCAL_SET), fe.bind('', ''), fe.sync(), fe.execute(),
      fe.sync(), fe.query('COMMIT')]));
    expect(expected.slice(2, 7)).toEqual(['1', '2', 'Z:T', 'C:SET', 'Z:T']);
  });
});

describe('fast path (a message whole in its chunk) and slow path (gathered) in every state', () => {
  it('agree on a malformed Parse without NULs, with and without local names, as PostgreSQL answers it', async () => {
    const malformed = message('P', Buffer.from('no terminators'));
    const plain = await sameEveryWay(Buffer.concat([malformed, fe.sync(), fe.parse('', 'SELECT 1'), fe.bind('', ''), fe.execute(), fe.sync()]));
    expect(plain.slice(0, 2)).toEqual(['E:08P01', 'Z:I']);
    await sameEveryWay(Buffer.concat([fe.parse('st', LOCAL_SET), fe.sync(), malformed, fe.bind('', 'st'), fe.execute(), fe.sync(),
      fe.bind('', 'st'), fe.execute(), fe.sync()]));
  });

  it('agree on a Parse whose query has no NUL inside the message (the next message holds one)', async () => {
    // Name NUL present, query runs to the end of the message: the fast path must not read into the next message.
    const truncated = message('P', cstring(''), Buffer.from('SELECT 1'));
    await sameEveryWay(Buffer.concat([truncated, fe.parse('', 'SELECT 2'), fe.sync(), fe.query('SELECT 3')]));
  });

  it('agree on a Query without its trailing NUL, alone and with a set or pid in it', async () => {
    const expected = await sameEveryWay(Buffer.concat([message('Q', Buffer.from('SELECT 1')), message('Q', Buffer.from(LOCAL_SET)), fe.query('SELECT 2')]));
    expect(expected.slice(0, 4)).toEqual(['E:08P01', 'Z:I', 'E:08P01', 'Z:I']);
  });

  it('agree while a segment is open: remote Parse, Sync and Flush after a local answer in the group', async () => {
    await sameEveryWay(Buffer.concat([fe.parse('', LOCAL_SET), fe.bind('', ''), fe.flush(), fe.parse('', 'SELECT 1'), fe.bind('', ''),
      fe.execute(), fe.flush(), fe.sync(), fe.query('SELECT 2'), fe.sync()]));
  });

  it('agree while dropping after a local error: the remote Parse, Flush and Query up to the Sync are skipped', async () => {
    await sameEveryWay(Buffer.concat([fe.parse('', LOCAL_SET), fe.bind('', ''), fe.execute(), fe.execute(), fe.parse('', 'SELECT 1'),
      fe.flush(), fe.bind('', ''), fe.execute(), fe.sync(), fe.parse('', 'SELECT 2'), fe.bind('', ''), fe.execute(), fe.sync()]));
  });

  it('agree with remote messages since the Sync and local names known, the group then answered locally in part', async () => {
    await sameEveryWay(Buffer.concat([fe.parse('st', "SELECT set_config('statement_timeout', '0', false)"), fe.sync(),
      fe.parse('', 'SELECT 1'), fe.bind('', ''), fe.execute(), fe.bind('p', 'st'), fe.execute('p'), fe.parse('', 'SELECT 2'),
      fe.bind('', ''), fe.execute(), fe.sync()]));
  });
});

describe('stepping aside after a Query inside an unsynced group', () => {
  it('still answers what was queued before it, and the Query runs when the group has not failed', async () => {
    await sameEveryWay(Buffer.concat([fe.query(LOCAL_SET), fe.parse('', LOCAL_SET), fe.bind('', ''), fe.execute(),
      fe.query(`SELECT 1; ${LOCAL_SET}`), fe.sync(), fe.query(LOCAL_SET)]));
  });

  it('drops what was queued after a failed message of the group, and the skipped Query answers nothing', async () => {
    const expected = await sameEveryWay(Buffer.concat([fe.parse('', 'SELECT 1/0'), fe.bind('', ''), fe.execute(),
      fe.parse('', LOCAL_SET), fe.bind('', ''), fe.execute(), fe.query('SELECT 1'), fe.sync(), fe.query(LOCAL_SET)]));
    // 1/0 is folded when the Bind plans it: the Bind fails.
    expect(expected.slice(0, 5)).toEqual(['1', 'E:22012', 'Z:I', 'C:SET', 'Z:I']);
  });

  it('keeps a pipelined local Query queued before the stepping aside in order', async () => {
    await sameEveryWay(Buffer.concat([fe.query('SELECT pg_sleep(0.05)'), fe.query(LOCAL_SET), fe.parse('', 'SELECT 1'),
      fe.bind('', ''), fe.execute(), fe.query('SELECT 2'), fe.sync()]));
  });
});

describe('an unsynced group piling up local answers', () => {
  const remoteThenLocal = (binds: number): Buffer => Buffer.concat([fe.parse('', 'SELECT 1'), fe.bind('', ''), fe.execute(),
    fe.parse('st', LOCAL_SET), ...Array.from({ length: binds }, () => fe.bind('', 'st'))]);

  it('gets the same answers as from PostgreSQL, with one Flush sent up', async () => {
    const input = Buffer.concat([remoteThenLocal(1100), fe.sync()]);
    const expected = await direct(input);
    const whole = await through(input, 'whole');
    expect(whole.answer).toEqual(expected);
    expect(frames(whole.upstream).filter((f) => f[0] === 0x48)).toHaveLength(1);
    expect((await through(input, everyMessageCut(input))).upstream.equals(whole.upstream)).toBe(true);
  });

  it('is released by the server answering the Flush, before any Sync (the paused client cannot deadlock)', async () => {
    const link = await PgLink.open();
    const down: Buffer[] = [];
    const up: Buffer[] = [];
    const exchange = new CompatExchange({ toServer: (b) => { up.push(Buffer.from(b)); }, toClient: (b) => { down.push(Buffer.from(b)); } },
      { backendPid: link.pid, initialStatus: 'I' });
    link.forward((chunk) => { if (exchange.fromServer(chunk)) down.push(Buffer.from(chunk)); });
    try {
      const input = remoteThenLocal(1100);
      let fed = 0;
      // Like the relay: stop reading the client while the exchange is saturated.
      for (const frame of frames(input)) {
        if (exchange.saturated) break;
        if (exchange.fromClient(frame)) up.push(Buffer.from(frame));
        fed++;
      }
      expect(fed).toBeLessThan(frames(input).length);
      link.socket.write(Buffer.concat(up));
      await until(() => !exchange.saturated, () => 'still saturated');
      expect(frames(Buffer.concat(down)).map((f) => String.fromCharCode(f[0]!)).filter((t) => t !== 'N').join(''))
        .toBe(`12DC1${'2'.repeat(fed - 4)}`);
    } finally {
      link.close();
    }
  });
});

// Divergences from PostgreSQL this review found and left for a design change (see the review report); each
// it.fails asserts PostgreSQL's answer, so it starts failing (and must become it) once the layer is fixed.
describe('known divergences', () => {
  // The status is unknown when the Query is read (the failing one before it is unanswered), so the SET is taken out
  // and COMMIT goes up alone: the server ends the transaction, where PostgreSQL refuses the SET (25P02) and skips COMMIT.
  it.fails('a pipelined Query of a local statement then COMMIT, behind a failure in a block', async () => {
    await sameEveryWay(Buffer.concat([fe.query('BEGIN'), fe.query('SELECT 1/0'), fe.query(`${LOCAL_SET}; COMMIT`), fe.query('SELECT 1')]));
  });

  // PostgreSQL skips the Parse after the group's error, so the name stays free; the layer recorded it when it read it.
  it.fails('a Parse of a local name that PostgreSQL skipped after an error, sent again', async () => {
    await sameEveryWay(Buffer.concat([fe.parse('', 'SELECT 1/0'), fe.bind('', ''), fe.execute(), fe.parse('st', LOCAL_SET), fe.sync(),
      fe.parse('st', LOCAL_SET), fe.bind('', 'st'), fe.execute(), fe.sync()]));
  });

  // The layer's own error in a block reports 'E', but the server's transaction is not failed: what follows runs there.
  it.fails("a statement pipelined after the layer's own error in a block", async () => {
    await sameEveryWay(Buffer.concat([fe.query('BEGIN'), fe.parse('', LOCAL_SET), fe.bind('', ''), fe.execute(), fe.execute(), fe.sync(),
      fe.query('SELECT 1'), fe.query('COMMIT')]));
  });

  // A BEGIN earlier in the same group is the server's; the layer's 42P05 then leaves the server's 'T' in place.
  it.fails("the layer's own error after a BEGIN of the same group", async () => {
    await sameEveryWay(Buffer.concat([fe.parse('st', LOCAL_SET), fe.sync(), fe.parse('', 'BEGIN'), fe.bind('', ''), fe.execute(),
      fe.parse('st', LOCAL_SET), fe.sync(), fe.query('ROLLBACK')]));
  });

  // A Sync after remote messages ends the implicit transaction and its portals; the layer keeps its portals then.
  it.fails('a local portal executed after the Sync that ended its implicit transaction', async () => {
    await sameEveryWay(Buffer.concat([fe.parse('', 'SELECT 1'), fe.bind('', ''), fe.execute(), fe.parse('', LOCAL_SET),
      fe.bind('', ''), fe.sync(), fe.execute(), fe.sync()]));
  });
});
