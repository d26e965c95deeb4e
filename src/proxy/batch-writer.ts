import type { Writable } from 'node:stream';

/** Plaintext of a full TLS record: a chunk this size usually has more of the same read right behind it. */
const FULL_RECORD_BYTES = 16 * 1024;
/** Most bytes gathered into one write. */
const BATCH_BYTES = 64 * 1024;

/**
 * Writes chunks to `sink`, gathering full-size chunks that arrive in one event-loop turn into one write.
 * A TLS socket delivers one record per callback, so a 64 KiB read of bulk data (COPY) would otherwise cost
 * four write system calls. A chunk smaller than a full record (a query's answer, or the tail of a burst)
 * flushes at once, so request/response traffic is written exactly as before, without delay.
 */
export class BatchWriter {
  private batch: Buffer | undefined;
  private used = 0;
  private flushQueued = false;

  /** `onBlocked` runs when a deferred flush finds the sink full (the source should pause until 'drain'). */
  constructor(private readonly sink: Writable, private readonly onBlocked: () => void) {}

  /**
   * Writes or gathers `chunk`, which is valid only during this call (it is copied, or written at once);
   * `retained` is called when a direct write still references it. Returns false when the sink is full.
   */
  write(chunk: Buffer, retained: () => void): boolean {
    if (this.used === 0 && chunk.length < FULL_RECORD_BYTES) {
      const more = this.sink.write(chunk);
      if (this.sink.writableLength > 0) retained();
      return more;
    }
    if (this.used + chunk.length > BATCH_BYTES && !this.flush()) {
      this.append(chunk);
      return false;
    }
    this.append(chunk);
    if (chunk.length < FULL_RECORD_BYTES) return this.flush();
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => { this.flushQueued = false; if (!this.flush()) this.onBlocked(); });
    }
    return true;
  }

  /** Writes whatever is gathered now; returns false when the sink is full. */
  flush(): boolean {
    if (this.used === 0) return true;
    const out = this.batch!.subarray(0, this.used);
    this.used = 0;
    const more = this.sink.write(out);
    // A write the kernel did not take at once keeps `out`: gather the next batch elsewhere.
    if (this.sink.writableLength > 0) this.batch = undefined;
    return more;
  }

  private append(chunk: Buffer): void {
    this.batch ??= Buffer.allocUnsafeSlow(BATCH_BYTES);
    chunk.copy(this.batch, this.used);
    this.used += chunk.length;
  }
}
