/** What the framer asks about each client message, and where it sends the bytes to forward. */
export interface FrameHandler {
  /** True to have the message of `type` (`length` as its header says, self included) gathered whole. */
  wantsWhole(type: number, length: number): boolean;
  /** A message too large (or not wanted) to gather has begun: true to stream it through, false to drop it. */
  passing(type: number): boolean;
  /**
   * A message it wants whole arrived whole in one chunk, at `chunk[start, end)`: true when it goes up unchanged
   * (the handler has accounted for it), false to have it handed to `whole`. Spares the common case a Buffer view.
   */
  passesWhole(chunk: Buffer, start: number, end: number): boolean;
  /**
   * A gathered message (header included): returns what to forward instead, the message itself to forward it
   * unchanged, or undefined to forward nothing.
   */
  whole(message: Buffer): Buffer | undefined;
}

/**
 * Frames the client's half of a session (typed messages, 5-byte headers) for the compat layer. Messages the
 * handler wants are gathered whole, the rest stream through as slices of the chunks they arrive in, so bulk
 * traffic (COPY data, large Bind values) is never copied. No I/O: forwarded bytes go to `forward`.
 */
export class ClientFramer {
  /** Body bytes still to stream through (or drop) for the current message. */
  private passRemaining = 0;
  /** The current streamed message is dropped, not forwarded. */
  private passDropped = false;
  /** The message being gathered, and how much of it has arrived. */
  private gathering: Buffer | undefined;
  private gathered = 0;
  private readonly header = Buffer.alloc(5);
  private headerFill = 0;
  /** A length word below 4: the stream is not PostgreSQL's; from here on everything is forwarded untouched. */
  private broken = false;

  /** Frames for `handler`; `forward` receives the bytes for the server, in order. */
  constructor(private readonly handler: FrameHandler, private readonly forward: (bytes: Buffer) => void) {}

  /**
   * Takes the next chunk from the client. Returns true when the whole chunk is to be forwarded as it is (the
   * caller writes it; the common case, no copy), false when what replaces it went to `forward` already.
   */
  feed(chunk: Buffer): boolean {
    if (this.broken) return true;
    const n = chunk.length;
    let at = 0;
    let runStart = 0; // start of the bytes passing unchanged that are not yet forwarded
    let changed = false;
    while (at < n && !this.broken) {
      if (this.passRemaining > 0) {
        const skip = Math.min(this.passRemaining, n - at);
        this.passRemaining -= skip;
        at += skip;
        if (this.passDropped) { runStart = at; changed = true; }
      } else if (this.gathering) {
        const take = Math.min(this.gathering.length - this.gathered, n - at);
        chunk.copy(this.gathering, this.gathered, at, at + take);
        this.gathered += take;
        at += take;
        runStart = at;
        if (this.gathered === this.gathering.length) {
          const message = this.gathering;
          this.gathering = undefined;
          this.emit(this.handler.whole(message));
        }
      } else if (this.headerFill === 0 && n - at >= 5) {
        const type = chunk[at]!;
        const length = chunk.readInt32BE(at + 1);
        if (length < 4) { this.broken = true; break; }
        if (!this.handler.wantsWhole(type, length)) {
          this.passDropped = !this.handler.passing(type);
          if (this.passDropped) {
            if (at > runStart) this.forward(chunk.subarray(runStart, at));
            changed = true;
            runStart = at + 5;
          }
          this.passRemaining = length - 4;
          at += 5;
        } else if (n - at > length && this.handler.passesWhole(chunk, at, at + length + 1)) {
          at += length + 1;
        } else if (n - at > length) {
          const message = chunk.subarray(at, at + length + 1);
          const replacement = this.handler.whole(message);
          if (replacement !== message) {
            if (at > runStart) this.forward(chunk.subarray(runStart, at));
            changed = true;
            runStart = at + length + 1;
            this.emit(replacement);
          }
          at += length + 1;
        } else {
          if (at > runStart) this.forward(chunk.subarray(runStart, at));
          changed = true;
          this.gathering = Buffer.allocUnsafe(length + 1);
          this.gathered = n - at;
          chunk.copy(this.gathering, 0, at, n);
          at = n;
          runStart = n;
        }
      } else {
        if (this.headerFill === 0 && at > runStart) this.forward(chunk.subarray(runStart, at));
        this.header[this.headerFill++] = chunk[at++]!;
        runStart = at;
        changed = true;
        if (this.headerFill === 5) this.headerDone();
      }
    }
    if (!changed && runStart === 0) return true;
    if (n > runStart) this.forward(chunk.subarray(runStart, n));
    return false;
  }

  /** A header gathered across chunks is complete: gather the message, or forward the header and stream on. */
  private headerDone(): void {
    this.headerFill = 0;
    const type = this.header[0]!;
    const length = this.header.readInt32BE(1);
    if (length < 4) { this.broken = true; this.forward(Buffer.from(this.header)); return; }
    if (this.handler.wantsWhole(type, length)) {
      this.gathering = Buffer.allocUnsafe(length + 1);
      this.header.copy(this.gathering, 0);
      this.gathered = 5;
      if (length === 4) {
        const message = this.gathering;
        this.gathering = undefined;
        this.emit(this.handler.whole(message));
      }
      return;
    }
    this.passDropped = !this.handler.passing(type);
    if (!this.passDropped) this.forward(Buffer.from(this.header));
    this.passRemaining = length - 4;
  }

  private emit(bytes: Buffer | undefined): void {
    if (bytes && bytes.length > 0) this.forward(bytes);
  }
}
