import { describe, expect, it } from 'vitest';
import { Framer } from '../../src/protocol/framer.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { errorResponse, negotiateProtocolVersion, passwordMessage, sslRequest } from '../../src/protocol/messages.js';
import { serializeStartupMessage } from '../../src/protocol/startup.js';

function frameAll(framer: Framer, chunks: Buffer[]): Buffer[] {
  const frames: Buffer[] = [];
  for (const chunk of chunks) {
    framer.push(chunk);
    for (let f = framer.next(); f; f = framer.next()) frames.push(f);
  }
  return frames;
}

const startupStream = [
  sslRequest(),
  serializeStartupMessage(196608, [['user', 'admin'], ['database', 'postgres'], ['options', '-c a=b']]),
];
const typedStream = [
  Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]),
  passwordMessage('token-value'),
  errorResponse({ severity: 'FATAL', code: '08P01', message: 'bad', hint: 'fix it' }),
  negotiateProtocolVersion(196608, ['_pq_.x']),
  Buffer.from([0x5a, 0, 0, 0, 5, 0x49]), // ReadyForQuery
];

describe('Framer', () => {
  it.each([
    ['startup', startupStream],
    ['typed', typedStream],
  ] as const)('returns the same %s frames for every split point of the stream', (kind, messages) => {
    const stream = Buffer.concat(messages);
    for (let split = 0; split <= stream.length; split++) {
      const frames = frameAll(new Framer(kind), [stream.subarray(0, split), stream.subarray(split)]);
      expect(frames).toEqual(messages);
    }
  });

  it('frames a stream fed one byte at a time and one fed in a single chunk', () => {
    const stream = Buffer.concat(typedStream);
    const bytes = [...stream].map((b) => Buffer.from([b]));
    expect(frameAll(new Framer('typed'), bytes)).toEqual(typedStream);
    expect(frameAll(new Framer('typed'), [stream])).toEqual(typedStream);
  });

  it('keeps returned frames intact after later pushes grow or compact the buffer', () => {
    const framer = new Framer('typed');
    const big = passwordMessage('x'.repeat(5000));
    framer.push(typedStream[0]!);
    const first = framer.next()!;
    framer.push(big);
    expect(first).toEqual(typedStream[0]);
    expect(framer.next()).toEqual(big);
  });

  it('hands back unframed bytes exactly with takeRemainder', () => {
    const framer = new Framer('typed');
    framer.push(Buffer.concat([typedStream[0]!, typedStream[4]!.subarray(0, 3)]));
    expect(framer.next()).toEqual(typedStream[0]);
    expect(framer.next()).toBeUndefined();
    expect(framer.takeRemainder()).toEqual(typedStream[4]!.subarray(0, 3));
    expect(framer.pending).toBe(0);
  });

  it('rejects a startup packet longer than 10,000 bytes and shorter than 8', () => {
    const long = Buffer.alloc(8);
    long.writeInt32BE(10_005, 0);
    expect(() => frameAll(new Framer('startup'), [long])).toThrow(ProtocolError);
    const longest = Buffer.alloc(8);
    longest.writeInt32BE(10_004, 0);
    expect(frameAll(new Framer('startup'), [longest])).toEqual([]);
    const short = Buffer.from([0, 0, 0, 7, 0, 0, 0]);
    expect(() => frameAll(new Framer('startup'), [short])).toThrow(/invalid length of startup packet/);
  });

  it('rejects negative and oversized typed lengths', () => {
    expect(() => frameAll(new Framer('typed'), [Buffer.from([0x52, 0xff, 0xff, 0xff, 0xf0])])).toThrow(ProtocolError);
    expect(() => frameAll(new Framer('typed', { maxLength: 100 }), [Buffer.from([0x52, 0, 0, 1, 0])])).toThrow(/invalid message length 256/);
  });
});
