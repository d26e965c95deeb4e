import type { Readable } from 'node:stream';
import type { ChunkSource } from '../proxy/ports.js';

/**
 * Size of the reused read buffer. TLS delivers at most one 16 KiB record per read; the rest is headroom for
 * plain sockets, whose reads can return whatever the kernel holds.
 */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * A socket's `onread` option backed by one buffer that is reused while no write still references it.
 * Node otherwise allocates a Buffer for every read, which under bulk transfers (COPY) costs malloc/free
 * per chunk and frequent full garbage collections driven by the external memory those buffers hold.
 */
export class ReusedBufferReader implements ChunkSource {
  private buffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
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
    if (this.retained) {
      this.retained = false;
      this.buffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    }
    return this.buffer;
  }

  private deliver(bytes: number, buffer: Buffer): boolean {
    const chunk = buffer.subarray(0, bytes);
    if (this.sink) return this.sink(chunk);
    // Before attach: behave like an ordinary socket, whose chunks outlive the read.
    return this.stream!.push(Buffer.from(chunk));
  }
}
