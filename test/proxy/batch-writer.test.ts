import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BatchWriter } from '../../src/proxy/batch-writer.js';

/** A sink that records every write it receives (each write completes at once). */
function recordingSink(): { sink: Writable; writes: Buffer[] } {
  const writes: Buffer[] = [];
  const sink = new Writable({ write(chunk: Buffer, _encoding, callback) { writes.push(Buffer.from(chunk)); callback(); } });
  return { sink, writes };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('BatchWriter', () => {
  it('writes a chunk smaller than a TLS record at once, unchanged (query answers are not delayed)', () => {
    const { sink, writes } = recordingSink();
    const writer = new BatchWriter(sink, () => undefined);
    expect(writer.write(Buffer.from('ReadyForQuery'), () => undefined)).toBe(true);
    expect(writes.map(String)).toEqual(['ReadyForQuery']);
  });

  it('gathers full records arriving in one event-loop turn into one write, copying them as they come', async () => {
    const { sink, writes } = recordingSink();
    const writer = new BatchWriter(sink, () => undefined);
    const reused = Buffer.alloc(16 * 1024);
    for (const fill of [0x61, 0x62, 0x63]) {
      reused.fill(fill); // the caller's buffer is overwritten by the next read
      writer.write(reused, () => undefined);
    }
    expect(writes).toHaveLength(0);
    await nextTurn();
    expect(writes).toHaveLength(1);
    expect(writes[0]!.length).toBe(3 * 16 * 1024);
    expect([writes[0]![0], writes[0]![16 * 1024], writes[0]![32 * 1024]]).toEqual([0x61, 0x62, 0x63]);
  });

  it('flushes at once when a shorter chunk ends the burst, keeping the order', () => {
    const { sink, writes } = recordingSink();
    const writer = new BatchWriter(sink, () => undefined);
    writer.write(Buffer.alloc(16 * 1024, 0x61), () => undefined);
    writer.write(Buffer.from('tail'), () => undefined);
    expect(writes).toHaveLength(1);
    expect(writes[0]!.subarray(-4).toString()).toBe('tail');
    expect(writes[0]!.length).toBe(16 * 1024 + 4);
  });
});
