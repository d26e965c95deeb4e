import { MAX_STARTUP_PACKET_LENGTH } from './codes.js';
import { ProtocolError } from './errors.js';

/** Which framing applies: untyped startup-phase packets, or typed (1-byte type) messages. */
export type FrameKind = 'startup' | 'typed';

/** Limits for one framer. */
export interface FramerOptions {
  /** Largest accepted length word (the length counts itself but not a type byte). */
  maxLength: number;
}

const INITIAL_CAPACITY = 512;

/**
 * Incremental framer: feed arbitrary chunks with `push`, take whole frames with `next`.
 * Correct for any chunking. Its buffer only grows by doubling; each frame is returned as its
 * own copy, so callers may keep it across later pushes.
 */
export class Framer {
  private buffer = Buffer.allocUnsafe(0);
  private start = 0;
  private end = 0;
  private readonly headerSize: number;
  private readonly minLength: number;
  private readonly maxLength: number;

  /** Creates a framer for one direction of one connection. */
  constructor(readonly kind: FrameKind, options?: Partial<FramerOptions>) {
    this.headerSize = kind === 'startup' ? 4 : 5;
    // A startup packet must carry at least its request code; a typed message at least its length.
    this.minLength = kind === 'startup' ? 8 : 4;
    this.maxLength = options?.maxLength ?? (kind === 'startup' ? MAX_STARTUP_PACKET_LENGTH + 4 : 1 << 30);
  }

  /** Number of buffered bytes not yet returned as frames. */
  get pending(): number {
    return this.end - this.start;
  }

  /** Appends a chunk of bytes. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.end + chunk.length > this.buffer.length) this.makeRoom(chunk.length);
    chunk.copy(this.buffer, this.end);
    this.end += chunk.length;
  }

  /**
   * Returns the next whole frame (header included), or undefined when more bytes are needed.
   * Throws ProtocolError on a length word outside the allowed range.
   */
  next(): Buffer | undefined {
    const available = this.end - this.start;
    if (available < this.headerSize) return undefined;
    const length = this.buffer.readInt32BE(this.start + this.headerSize - 4);
    if (length < this.minLength || length > this.maxLength) {
      throw new ProtocolError(
        this.kind === 'startup'
          ? `invalid length of startup packet (${length} bytes)`
          : `invalid message length ${length}`,
      );
    }
    const total = length + this.headerSize - 4;
    if (available < total) return undefined;
    const frame = Buffer.from(this.buffer.subarray(this.start, this.start + total));
    this.start += total;
    return frame;
  }

  /** Removes and returns (as a copy) every byte not yet returned as a frame. */
  takeRemainder(): Buffer {
    const rest = Buffer.from(this.buffer.subarray(this.start, this.end));
    this.start = this.end = 0;
    return rest;
  }

  private makeRoom(incoming: number): void {
    const live = this.end - this.start;
    const needed = live + incoming;
    if (needed <= this.buffer.length && this.start > 0) {
      this.buffer.copy(this.buffer, 0, this.start, this.end);
    } else {
      let capacity = Math.max(this.buffer.length, INITIAL_CAPACITY);
      while (capacity < needed) capacity *= 2;
      const grown = Buffer.allocUnsafe(capacity);
      this.buffer.copy(grown, 0, this.start, this.end);
      this.buffer = grown;
    }
    this.start = 0;
    this.end = live;
  }
}
