import { CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, SSL_REQUEST_CODE } from '../../src/protocol/codes.js';
import { serializeStartupMessage } from '../../src/protocol/startup.js';

/** A small seeded PRNG (mulberry32): the same seed gives the same byte streams, so a failure replays. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One generated client: the bytes, how to split them into writes, and whether to half-close afterwards. */
export interface FuzzCase {
  readonly kind: string;
  readonly bytes: Buffer;
  readonly splits: readonly number[];
  readonly endAfterWrite: boolean;
}

const int32 = (value: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(value | 0); return b; };
const request = (code: number): Buffer => Buffer.concat([int32(8), int32(code)]);

/** Generates client byte streams: random bytes and valid packets mutated the ways real garbage looks. */
export function fuzzCase(random: () => number): FuzzCase {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (max: number): number => Math.floor(random() * max);
  const randomBytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  const startup = (): Buffer => serializeStartupMessage(pick([196608, 196610, 131072, int(2 ** 31)]),
    pick([[['user', 'admin'], ['database', 'postgres']], [['user', 'app_reader']], [['database', 'x']], [['options', '-c a=b']], []]) as [string, string][]);
  const generators: Record<string, () => Buffer> = {
    random: () => randomBytes(int(300)),
    'length word': () => { const b = startup(); b.writeInt32BE(pick([0, 4, 7, 8, 10_005, 0x7fffffff, -1, -8, int(2 ** 31), b.length + 1 + int(10)]), 0); return b; },
    'request code': () => { const b = startup(); b.writeInt32BE(pick([0, SSL_REQUEST_CODE + 1, CANCEL_REQUEST_CODE, int(2 ** 31), -1]), 4); return b; },
    'missing terminator': () => { const b = startup(); const cut = b.subarray(0, b.length - 1 - int(3)); const out = Buffer.from(cut); out.writeInt32BE(out.length, 0); return out; },
    'flipped bytes': () => { const b = startup(); for (let i = 0; i < 1 + int(4); i++) b[int(b.length)] = int(256); return b; },
    'huge packet': () => { const b = Buffer.alloc(10_000 + int(20_000), 0x61); b.writeInt32BE(b.length, 0); b.writeInt32BE(196608, 4); return b; },
    'garbage after SSLRequest': () => Buffer.concat([request(SSL_REQUEST_CODE), randomBytes(1 + int(200))]),
    'TLS ClientHello': () => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01]), randomBytes(int(250))]),
    'GSSENC then garbage': () => Buffer.concat([request(GSSENC_REQUEST_CODE), randomBytes(int(100))]),
    'cancel request': () => Buffer.concat([int32(pick([16, 12, 20, 300])), int32(CANCEL_REQUEST_CODE), randomBytes(8 + int(8))]),
    'two startups': () => Buffer.concat([startup(), startup()]),
    'ssl twice': () => Buffer.concat([request(SSL_REQUEST_CODE), request(SSL_REQUEST_CODE), startup()]),
  };
  const kind = pick(Object.keys(generators));
  const bytes = generators[kind]!();
  const splits = Array.from({ length: int(3) }, () => int(bytes.length + 1)).sort((a, b) => a - b);
  return { kind, bytes, splits, endAfterWrite: random() < 0.9 };
}
