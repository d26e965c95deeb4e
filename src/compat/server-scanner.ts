/** ReadyForQuery's type byte. */
export const READY_FOR_QUERY = 0x5a; // 'Z'

/** What the scanner reports; `at` is an offset into the chunk being scanned (-1: in an earlier chunk). */
export interface ServerEvents {
  /** A ReadyForQuery's header is complete; its body is still to come. */
  readyStarts(at: number): void;
  /** A message ended at `at` (exclusive); for ReadyForQuery `status` is its transaction-status byte. */
  messageEnds(type: number, at: number, status: number): void;
}

/**
 * Follows the server's half of a session message by message, reading only headers (and ReadyForQuery's status
 * byte), so the compat layer can count completions and insert its answers between two messages. Correct for any
 * chunking. A length word below 4 breaks the stream: from then on nothing is reported.
 */
export class ServerScanner {
  private remaining = 0;
  private readonly header = Buffer.alloc(5);
  private headerFill = 0;
  private current = 0;
  private status = 0;
  private broken = false;

  /** Reports to `events`. */
  constructor(private readonly events: ServerEvents) {}

  /** Scans the next chunk of the server's stream. */
  scan(chunk: Buffer): void {
    const n = chunk.length;
    let at = 0;
    while (at < n && !this.broken) {
      if (this.remaining > 0) {
        if (this.current === READY_FOR_QUERY && this.remaining === 1) this.status = chunk[at]!;
        const skip = Math.min(this.remaining, n - at);
        this.remaining -= skip;
        at += skip;
        if (this.remaining === 0) this.events.messageEnds(this.current, at, this.status);
      } else if (this.headerFill === 0 && n - at >= 5) {
        this.begin(chunk[at]!, chunk.readInt32BE(at + 1), at);
        at += 5;
        if (this.remaining === 0 && !this.broken) this.events.messageEnds(this.current, at, this.status);
      } else {
        const start = this.headerFill === 0 ? at : -1;
        this.header[this.headerFill++] = chunk[at++]!;
        if (this.headerFill === 5) {
          this.headerFill = 0;
          this.begin(this.header[0]!, this.header.readInt32BE(1), start);
          if (this.remaining === 0 && !this.broken) this.events.messageEnds(this.current, at, this.status);
        }
      }
    }
  }

  private begin(type: number, length: number, start: number): void {
    if (length < 4) { this.broken = true; return; }
    this.current = type;
    this.remaining = length - 4;
    if (type === READY_FOR_QUERY) this.events.readyStarts(start);
  }
}
