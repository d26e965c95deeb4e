import { ProtocolError } from './errors.js';

/** A bounds-checked cursor over one message body; every overrun is a ProtocolError. */
export class MessageReader {
  private offset: number;

  /** Reads `buffer` starting at `offset`. */
  constructor(private readonly buffer: Buffer, offset = 0) {
    this.offset = offset;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.buffer.length - this.offset;
  }

  /** Reads a big-endian signed 32-bit integer. */
  int32(): number {
    if (this.remaining < 4) throw new ProtocolError('message truncated: expected a 32-bit integer');
    const value = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  /** Reads a NUL-terminated UTF-8 string. */
  cstring(): string {
    const nul = this.buffer.indexOf(0, this.offset);
    if (nul < 0) throw new ProtocolError('message truncated: missing string terminator');
    const value = this.buffer.toString('utf8', this.offset, nul);
    this.offset = nul + 1;
    return value;
  }

  /** Reads `count` raw bytes (a copy). */
  bytes(count: number): Buffer {
    if (count < 0 || this.remaining < count) throw new ProtocolError('message truncated');
    const value = Buffer.from(this.buffer.subarray(this.offset, this.offset + count));
    this.offset += count;
    return value;
  }

  /** Skips `count` bytes. */
  skip(count: number): void {
    if (count < 0 || this.remaining < count) throw new ProtocolError('message truncated');
    this.offset += count;
  }

  /** Reads one byte. */
  byte(): number {
    if (this.remaining < 1) throw new ProtocolError('message truncated');
    return this.buffer[this.offset++]!;
  }
}
