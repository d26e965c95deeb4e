import type { Duplex } from 'node:stream';
import { Framer, type FrameKind } from '../protocol/framer.js';

/** Why a FrameStream stopped delivering frames. */
export class StreamClosedError extends Error {
  constructor(readonly reason: 'end' | 'error', readonly error?: Error) {
    super(reason === 'end' ? 'peer closed the connection' : `connection error: ${error?.message ?? 'unknown'}`);
    this.name = 'StreamClosedError';
  }
}

/**
 * Reads whole frames from a socket during the handshake phases, one `next()` at a time.
 * The socket is paused whenever no frame is wanted, so a peer cannot make the proxy buffer
 * more than one read's worth beyond the current frame. `detach` hands back unread bytes.
 */
export class FrameStream {
  private readonly framer: Framer;
  private waiter: { resolve: (frame: Buffer) => void; reject: (error: Error) => void } | undefined;
  private closed: Error | undefined;
  private received = 0;

  /**
   * Starts reading `socket` with the given framing; the socket stays paused until `next()`.
   * `initial` holds bytes already read from the socket by an earlier reader.
   */
  constructor(private readonly socket: Duplex, kind: FrameKind, maxLength?: number, initial?: Buffer) {
    this.framer = new Framer(kind, maxLength === undefined ? undefined : { maxLength });
    if (initial) this.framer.push(initial);
    socket.pause();
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
  }

  /** Resolves with the next whole frame; rejects with ProtocolError or StreamClosedError. */
  next(): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      try {
        const frame = this.framer.next();
        if (frame) { resolve(frame); return; }
      } catch (error) {
        reject(error as Error);
        return;
      }
      if (this.closed) { reject(this.closed); return; }
      this.waiter = { resolve, reject };
      this.socket.resume();
    });
  }

  /** Bytes read from the socket so far (0 for a peer that connected and left without a word). */
  get bytesReceived(): number {
    return this.received;
  }

  /** Fails the pending and every later `next()` with `error` (used for deadlines). */
  abort(error: Error): void {
    this.closedWith(error);
  }

  /** Stops reading, removes listeners and returns every byte received but not yet framed. */
  detach(): Buffer {
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('error', this.onError);
    this.waiter = undefined;
    return this.framer.takeRemainder();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.received += chunk.length;
    this.framer.push(chunk);
    if (!this.waiter) return;
    let frame: Buffer | undefined;
    try {
      frame = this.framer.next();
    } catch (error) {
      this.settle().reject(error as Error);
      return;
    }
    if (frame) this.settle().resolve(frame);
  };

  private readonly onEnd = (): void => this.closedWith(new StreamClosedError('end'));

  private readonly onError = (error: Error): void => this.closedWith(new StreamClosedError('error', error));

  private closedWith(reason: Error): void {
    this.closed ??= reason;
    if (this.waiter) this.settle().reject(reason);
  }

  private settle(): { resolve: (frame: Buffer) => void; reject: (error: Error) => void } {
    const waiter = this.waiter!;
    this.waiter = undefined;
    this.socket.pause();
    return waiter;
  }
}
