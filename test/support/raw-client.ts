import { connect, type Socket } from 'node:net';
import { Framer } from '../../src/protocol/framer.js';

/** A bare socket client that reads typed backend frames, for protocol-level tests. */
export class RawClient {
  private readonly framer = new Framer('typed');
  private readonly frames: Buffer[] = [];
  private waiting: (() => void) | undefined;
  /** Single-byte answers (to SSLRequest/GSSENCRequest) received before the first frame. */
  readonly leading: number[] = [];
  /** Resolves when the server closes the connection. */
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket, private leadingBytes: number) {
    socket.on('data', (chunk: Buffer) => {
      while (this.leadingBytes > 0 && chunk.length > 0) {
        this.leading.push(chunk[0]!);
        chunk = chunk.subarray(1);
        this.leadingBytes--;
      }
      this.framer.push(chunk);
      try {
        for (let f = this.framer.next(); f; f = this.framer.next()) this.frames.push(f);
      } catch {
        socket.destroy(); // not a frame stream: the test sees the connection end
      }
      this.waiting?.();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => { this.waiting?.(); resolve(); }));
  }

  /** Connects to 127.0.0.1:port; the first `leadingBytes` bytes received are single-byte answers, not frames. */
  static connect(port: number, leadingBytes = 0): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawClient(socket, leadingBytes)));
      socket.once('error', reject);
    });
  }

  /** Writes raw bytes. */
  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Resolves with the next frame, or undefined if the connection closed first. */
  async next(timeoutMs = 10_000): Promise<Buffer | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.socket.destroyed || this.socket.readableEnded) return undefined;
      if (Date.now() > deadline) throw new Error('timed out waiting for a frame');
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 50);
      });
    }
    return this.frames.shift();
  }

  /** Reads frames until one of `type` arrives; returns all frames read, that one last. */
  async until(type: string): Promise<Buffer[]> {
    const seen: Buffer[] = [];
    for (;;) {
      const frame = await this.next();
      if (!frame) throw new Error(`connection closed before '${type}' (saw ${seen.map((f) => String.fromCharCode(f[0]!)).join('')})`);
      seen.push(frame);
      if (frame[0] === type.charCodeAt(0)) return seen;
    }
  }
}

/** A simple Query ('Q') message. */
export function queryMessage(sql: string): Buffer {
  const body = Buffer.from(sql + '\0');
  const out = Buffer.alloc(5 + body.length);
  out[0] = 0x51;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

/** True when `bytes` ends with a ReadyForQuery message: a login or a query has been answered in full. */
export function endsWithReadyForQuery(bytes: Buffer): boolean {
  const at = bytes.length - 6;
  return at >= 0 && bytes[at] === 0x5a && bytes.readInt32BE(at + 1) === 5;
}

/** Reads `socket` until what arrived ends with ReadyForQuery; resolves with the byte count. */
export function readUntilReady(socket: Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    let total = 0;
    let tail = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      tail = Buffer.concat([tail, chunk]).subarray(-6);
      if (endsWithReadyForQuery(tail)) { socket.off('data', onData); socket.off('close', onClose); resolve(total); }
    };
    const onClose = (): void => reject(new Error('closed before ReadyForQuery'));
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}
