import { describe, expect, it } from 'vitest';
import { ClientFramer, type FrameHandler } from '../../src/compat/client-framer.js';
import { cstring, int16, int32, message } from '../support/wire.js';

/** What a handler does with a gathered message of one type. */
type Rule = (message: Buffer) => Buffer | undefined;

/**
 * A handler that gathers the types it has a rule for (when shorter than `limit`), applies the rule, and logs
 * every call so that two runs can be compared call by call.
 */
class Recorder implements FrameHandler {
  readonly calls: string[] = [];
  constructor(private readonly rules: Readonly<Record<string, Rule>>, private readonly limit = Infinity) {}

  wantsWhole(type: number, length: number): boolean {
    const want = String.fromCharCode(type) in this.rules && length < this.limit;
    this.calls.push(`wants ${String.fromCharCode(type)} ${length} ${want}`);
    return want;
  }

  /** Types whose streamed messages are dropped. */
  dropped = new Set<string>();

  passing(type: number): boolean {
    this.calls.push(`passing ${String.fromCharCode(type)}`);
    return !this.dropped.has(String.fromCharCode(type));
  }

  /** Never takes the shortcut, so every gathered message reaches whole() and is recorded. */
  passesWhole(): boolean {
    return false;
  }

  whole(message: Buffer): Buffer | undefined {
    this.calls.push(`whole ${message.toString('hex')}`);
    return this.rules[String.fromCharCode(message[0]!)]!(message);
  }
}

/** A framer around `handler`, and everything it forwarded (each piece as given, to check for copies). */
function framer(handler: FrameHandler): { framer: ClientFramer; forwarded: Buffer[] } {
  const forwarded: Buffer[] = [];
  return { framer: new ClientFramer(handler, (bytes) => { forwarded.push(bytes); }), forwarded };
}

/** Feeds `chunks`; returns the bytes for the server, a chunk for which feed() returned true counting as it is. */
function feedAll(handler: FrameHandler, chunks: readonly Buffer[]): Buffer {
  const { framer: f, forwarded } = framer(handler);
  const out: Buffer[] = [];
  for (const chunk of chunks) {
    forwarded.length = 0;
    const pass = f.feed(chunk);
    if (pass) {
      expect(forwarded, 'feed() forwarded bytes and returned true').toEqual([]);
      out.push(Buffer.from(chunk));
    } else out.push(...forwarded.map((b) => Buffer.from(b)));
  }
  return Buffer.concat(out);
}

const upper: Rule = (m) => message('Q', cstring(m.toString('utf8', 5, m.length - 1).toUpperCase()));
const RULES: Record<string, Rule> = {
  Q: upper, // replaced
  P: (m) => m, // examined, forwarded as it is
  S: () => undefined, // dropped
  H: () => Buffer.alloc(0), // replaced by nothing
};

const query = (sql: string): Buffer => message('Q', cstring(sql));
const parse = (sql: string): Buffer => message('P', cstring(''), cstring(sql), int16(0));
const bind = (value: string): Buffer =>
  message('B', cstring(''), cstring(''), int16(0), int16(1), int32(Buffer.byteLength(value)), Buffer.from(value), int16(0));
const execute = (): Buffer => message('E', cstring(''), int32(0));
const copyData = (size: number): Buffer => message('d', Buffer.alloc(size, 0x61));

/** A client stream mixing every case, and what the framer must forward for it under RULES. */
const MESSAGES = [
  query('select 1'), parse('select $1'), bind('x'.repeat(40)), execute(), message('S'), message('H'), copyData(300),
  message('c'), query('set a = 1'), message('S'), bind(''), message('X'),
];
const STREAM = Buffer.concat(MESSAGES);
const EXPECTED = Buffer.concat(MESSAGES.map((m) => {
  const rule = RULES[String.fromCharCode(m[0]!)];
  return rule ? rule(m) ?? Buffer.alloc(0) : m;
}));

/** A deterministic PRNG (mulberry32), so a failing random chunking can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('ClientFramer', () => {
  it('forwards exactly the handled stream, and asks the handler the same things, however the stream is cut', () => {
    const reference = new Recorder(RULES);
    expect(feedAll(reference, [STREAM])).toEqual(EXPECTED);
    expect(reference.calls.filter((c) => c.startsWith('whole')).length).toBe(6);

    const check = (chunks: Buffer[], label: string): void => {
      const handler = new Recorder(RULES);
      expect(feedAll(handler, chunks), label).toEqual(EXPECTED);
      expect(handler.calls, label).toEqual(reference.calls);
    };
    for (let at = 0; at <= STREAM.length; at++) check([STREAM.subarray(0, at), STREAM.subarray(at)], `split at ${at}`);
    check([...STREAM].map((b) => Buffer.from([b])), '1-byte chunks');
    const next = random(12);
    for (let run = 0; run < 300; run++) {
      const cuts = Array.from({ length: 1 + Math.floor(next() * 8) }, () => Math.floor(next() * STREAM.length)).sort((a, b) => a - b);
      const chunks = [0, ...cuts].map((from, i) => STREAM.subarray(from, cuts[i] ?? STREAM.length));
      check(chunks, `cuts ${cuts.join(',')}`);
    }
  });

  it('returns true for a chunk whose messages it does not gather, forwarding nothing itself', () => {
    const handler = new Recorder({});
    const { framer: f, forwarded } = framer(handler);
    const chunk = Buffer.concat([bind('value'), execute(), message('S'), copyData(50)]);
    expect(f.feed(chunk)).toBe(true);
    // Split inside a body: both halves pass as they are.
    const body = copyData(100);
    expect(f.feed(body.subarray(0, 40))).toBe(true);
    expect(f.feed(body.subarray(40))).toBe(true);
    expect(forwarded).toEqual([]);
    expect(handler.calls).toEqual([
      'wants B 21 false', 'passing B', 'wants E 9 false', 'passing E', 'wants S 4 false', 'passing S',
      'wants d 54 false', 'passing d', 'wants d 104 false', 'passing d',
    ]);
  });

  it('returns true for a gathered message the handler keeps as it is, whole in its chunk', () => {
    const handler = new Recorder(RULES);
    const { framer: f, forwarded } = framer(handler);
    expect(f.feed(Buffer.concat([parse('select 1'), bind('v'), execute()]))).toBe(true);
    expect(forwarded).toEqual([]);
  });

  it('forwards the body of a message it does not gather as a view of the chunk, never a copy', () => {
    const handler = new Recorder(RULES);
    const { framer: f, forwarded } = framer(handler);
    const big = copyData(1000);
    const first = Buffer.concat([query('select 1'), big.subarray(0, 3)]); // a replaced Query, then half a header
    const second = Buffer.from(big.subarray(3));
    expect(f.feed(first)).toBe(false);
    expect(f.feed(second)).toBe(false); // the header it held goes first
    expect(Buffer.concat(forwarded)).toEqual(Buffer.concat([upper(query('select 1'))!, big]));
    const body = forwarded[forwarded.length - 1]!;
    expect(body.length).toBe(second.length - 2);
    expect(body.buffer).toBe(second.buffer);
    expect(body.byteOffset).toBe(second.byteOffset + 2);
    // A replaced message with a passing one after it in the same chunk: the passing one is a view too.
    forwarded.length = 0;
    const third = Buffer.concat([query('x'), big]);
    expect(f.feed(third)).toBe(false);
    expect(forwarded[1]!.buffer).toBe(third.buffer);
    expect(forwarded[1]!.byteOffset).toBe(third.byteOffset + query('x').length);
  });

  it('gives the handler the length word, so a message too large to examine streams through unread', () => {
    const long = query(`select '${'y'.repeat(100)}'`);
    const short = query('select 2');
    const stream = Buffer.concat([long, short]);
    for (const chunks of [[stream], [...stream].map((b) => Buffer.from([b]))]) {
      const handler = new Recorder(RULES, 64);
      expect(feedAll(handler, chunks)).toEqual(Buffer.concat([long, upper(short)!]));
      expect(handler.calls).toEqual([`wants Q ${long.length - 1} false`, 'passing Q', 'wants Q 13 true', `whole ${short.toString('hex')}`]);
    }
  });

  it('forwards everything from a length word below 4 on unchanged, in this chunk and every later one', () => {
    const bad = Buffer.concat([Buffer.from('Q'), int32(3), Buffer.from('garbage after a bad header')]);
    const stream = Buffer.concat([query('select 1'), bind('v'), bad, query('select 2')]);
    const expected = Buffer.concat([upper(query('select 1'))!, bind('v'), bad, query('select 2')]);
    for (let at = 0; at <= stream.length; at++) {
      const handler = new Recorder(RULES);
      expect(feedAll(handler, [stream.subarray(0, at), stream.subarray(at)]), `split at ${at}`).toEqual(expected);
      // Nothing from the bad header on is shown to the handler.
      expect(handler.calls, `split at ${at}`).toEqual([
        'wants Q 13 true', `whole ${query('select 1').toString('hex')}`, `wants B ${bind('v').length - 1} false`, 'passing B',
      ]);
    }
    const handler = new Recorder(RULES);
    const { framer: f, forwarded } = framer(handler);
    expect(f.feed(bad.subarray(0, 3))).toBe(false); // a header cut across chunks is held until complete…
    expect(forwarded).toEqual([]);
    expect(f.feed(bad.subarray(3))).toBe(false); // …then forwarded with the rest once it reads as broken
    expect(Buffer.concat(forwarded)).toEqual(bad);
    expect(f.feed(query('select 3'))).toBe(true);
    expect(f.feed(message('S'))).toBe(true);
    expect(handler.calls).toEqual([]);
  });

  it('gathers a message of length 4 (Sync) whole, with its header cut across chunks', () => {
    const handler = new Recorder(RULES);
    const { framer: f, forwarded } = framer(handler);
    const sync = message('S');
    expect(f.feed(sync.subarray(0, 2))).toBe(false);
    expect(f.feed(sync.subarray(2))).toBe(false);
    expect(forwarded).toEqual([]);
    expect(handler.calls).toEqual(['wants S 4 true', `whole ${sync.toString('hex')}`]);
  });
});
