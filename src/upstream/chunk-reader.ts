import type { Readable } from 'node:stream';
import type { ChunkSource } from '../proxy/ports.js';

/** Size of a read buffer: one TLS record's plaintext at most, so one decrypted record per read. */
const READ_BUFFER_BYTES = 16 * 1024;

/**
 * Where every reader reads until it has its own buffer. Sharing it is safe because a chunk read into it is
 * copied before the read callback returns, and reads (one socket at a time, on this thread) never interleave.
 */
const sharedBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);

/**
 * A socket's `onread` option that reads into a reused buffer instead of a new Buffer per read: Node's default
 * allocation costs malloc/free per chunk and, under bulk transfers (COPY), frequent full garbage collections
 * driven by the external memory those buffers hold. Until `attach`, chunks are copied into the socket's stream
 * from one shared buffer; once attached, the reader takes its own buffer at its first read (so an idle session
 * holds none) and replaces it only while a write still references the last chunk.
 */
export class ReusedBufferReader implements ChunkSource {
  private own: Buffer | undefined;
  private retained = false;
  private sink: ((chunk: Buffer) => boolean) | undefined;
  private stream: Readable | undefined;

  /** Pass as the `onread` option of `net.connect`/`tls.connect`, then `bind` the socket it returns. */
  readonly onread = {
    buffer: (): Buffer => this.nextBuffer(),
    callback: (bytes: number, buffer: Uint8Array): boolean => this.deliver(bytes, buffer as Buffer),
  };

  /** The socket whose stream receives (copied) reads until `attach`. */
  bind(stream: Readable): void {
    this.stream = stream;
  }

  attach(sink: (chunk: Buffer) => boolean): void {
    this.sink = sink;
  }

  retainLast(): void {
    this.retained = true;
  }

  private nextBuffer(): Buffer {
    if (!this.sink) return sharedBuffer;
    if (this.retained || !this.own) {
      this.retained = false;
      this.own = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    }
    return this.own;
  }

  private deliver(bytes: number, buffer: Buffer): boolean {
    const chunk = buffer.subarray(0, bytes);
    if (buffer === sharedBuffer) {
      // Read before the reader had its own buffer: the chunk must not outlive this call.
      const copy = Buffer.from(chunk);
      return this.sink ? this.sink(copy) : this.stream!.push(copy);
    }
    return this.sink!(chunk);
  }
}
