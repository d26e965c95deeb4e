/**
 * Follows where typed messages start and end in one direction of a relayed stream, reading only each message's
 * 5-byte header (type and length) and skipping its body: the cost is one length read per message, not per byte.
 * Correct for any chunking, headers split across chunks included. No I/O.
 */
export class MessageBoundaries {
  /** Body bytes of the current message still to come. */
  private remaining = 0;
  /** Header bytes of the next message received so far (0..4). */
  private headerFill = 0;
  private readonly header = Buffer.alloc(5);
  /** Type of the message whose body is being skipped. */
  private current = 0;
  private last = 0;
  private broken = false;

  /** Type byte of the last message that arrived whole (0 before the first). */
  get lastType(): number {
    return this.last;
  }

  /** True when everything fed so far ends exactly at the end of a message (and the stream was well formed). */
  get atBoundary(): boolean {
    return !this.broken && this.remaining === 0 && this.headerFill === 0;
  }

  /** Accounts for `chunk`, the next bytes of the stream. */
  feed(chunk: Buffer): void {
    const length = chunk.length;
    let at = 0;
    while (at < length && !this.broken) {
      if (this.remaining > 0) {
        const skip = Math.min(this.remaining, length - at);
        this.remaining -= skip;
        at += skip;
        if (this.remaining === 0) this.last = this.current;
      } else if (this.headerFill === 0 && length - at >= 5) {
        this.begin(chunk[at]!, chunk.readInt32BE(at + 1));
        at += 5;
      } else {
        this.header[this.headerFill++] = chunk[at++]!;
        if (this.headerFill === 5) {
          this.headerFill = 0;
          this.begin(this.header[0]!, this.header.readInt32BE(1));
        }
      }
    }
  }

  /**
   * Feeds `chunk` only as far as the stream's next message boundary and returns how many bytes that took: 0 when
   * the stream is already at one, -1 when the whole chunk was fed without reaching one (or the stream is broken).
   * Lets a caller cut a stream cleanly between two messages.
   */
  feedToBoundary(chunk: Buffer): number {
    if (this.atBoundary) return 0;
    let at = 0;
    while (at < chunk.length && !this.broken) {
      if (this.remaining > 0) {
        const skip = Math.min(this.remaining, chunk.length - at);
        this.remaining -= skip;
        at += skip;
        if (this.remaining === 0) this.last = this.current;
      } else {
        this.header[this.headerFill++] = chunk[at++]!;
        if (this.headerFill === 5) {
          this.headerFill = 0;
          this.begin(this.header[0]!, this.header.readInt32BE(1));
        }
      }
      if (this.atBoundary) return at;
    }
    return -1;
  }

  private begin(type: number, lengthWord: number): void {
    if (lengthWord < 4) { this.broken = true; return; }
    this.current = type;
    this.remaining = lengthWord - 4;
    if (this.remaining === 0) this.last = type;
  }
}
