import { describe, expect, it } from 'vitest';
import { MessageBoundaries } from '../../src/protocol/boundary.js';

/** A typed message built by hand: type, Int32 length (counting itself), body. */
function message(type: string, body: Buffer | string): Buffer {
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const out = Buffer.alloc(5 + payload.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + payload.length, 1);
  payload.copy(out, 5);
  return out;
}

const stream = Buffer.concat([message('T', 'row description'), message('D', Buffer.alloc(300, 7)), message('C', 'SELECT 1\0'), message('Z', 'I')]);
/** Offsets where a message ends in `stream`. */
const ends = [5 + 15, 5 + 15 + 305, 5 + 15 + 305 + 14, stream.length];

describe('MessageBoundaries', () => {
  it('knows, for every split of a stream into two chunks, whether each prefix ends on a message boundary', () => {
    for (let split = 0; split <= stream.length; split++) {
      const boundaries = new MessageBoundaries();
      boundaries.feed(stream.subarray(0, split));
      expect(boundaries.atBoundary, `after ${split} bytes`).toBe(split === 0 || ends.includes(split));
      boundaries.feed(stream.subarray(split));
      expect(boundaries.atBoundary).toBe(true);
      expect(String.fromCharCode(boundaries.lastType)).toBe('Z');
    }
  });

  it('follows a stream fed a byte at a time, headers split included', () => {
    const boundaries = new MessageBoundaries();
    const seen: string[] = [];
    for (let i = 0; i < stream.length; i++) {
      boundaries.feed(stream.subarray(i, i + 1));
      if (boundaries.atBoundary) seen.push(String.fromCharCode(boundaries.lastType));
    }
    expect(seen).toEqual(['T', 'D', 'C', 'Z']);
  });

  it('reports the last whole message: an ErrorResponse just before the end is seen as such', () => {
    const boundaries = new MessageBoundaries();
    boundaries.feed(Buffer.concat([message('Z', 'I'), message('E', 'SFATAL\0\0')]));
    expect(String.fromCharCode(boundaries.lastType)).toBe('E');
    boundaries.feed(message('D', Buffer.alloc(10)).subarray(0, 8));
    expect(boundaries.atBoundary).toBe(false);
    expect(String.fromCharCode(boundaries.lastType)).toBe('E');
  });

  it('never claims a boundary once a length word is impossible', () => {
    const boundaries = new MessageBoundaries();
    boundaries.feed(Buffer.from([0x5a, 0, 0, 0, 2]));
    expect(boundaries.atBoundary).toBe(false);
  });

  it('cuts a stream at the first message end after any split point, for every pair of chunkings', () => {
    for (let split = 0; split <= stream.length; split++) {
      for (const step of [1, 7, 400]) {
        const boundaries = new MessageBoundaries();
        boundaries.feed(stream.subarray(0, split));
        const expected = split === 0 || ends.includes(split) ? split : ends.find((end) => end > split)!;
        let at = split;
        let cut = -1;
        while (at < stream.length || at === split) {
          const chunk = stream.subarray(at, Math.min(stream.length, at + step));
          const taken = boundaries.feedToBoundary(chunk);
          if (taken >= 0) { cut = at + taken; break; }
          at += chunk.length;
        }
        expect(cut, `split ${split}, chunks of ${step}`).toBe(expected);
        expect(boundaries.atBoundary).toBe(true);
      }
    }
  });

  it('finds no boundary to cut at in a broken stream', () => {
    const boundaries = new MessageBoundaries();
    boundaries.feed(Buffer.from([0x44, 0, 0]));
    expect(boundaries.feedToBoundary(Buffer.from([0, 2, 0x5a, 0, 0, 0, 4]))).toBe(-1);
  });
});
