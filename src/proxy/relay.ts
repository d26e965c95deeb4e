import type { Duplex } from 'node:stream';
import { BatchWriter } from './batch-writer.js';
import type { ChunkSource } from './ports.js';

/** Which side ended the relay first. */
export type ClosedBy = 'client' | 'server';

/** What a finished relay reports. */
export interface RelayResult {
  /** Bytes read from the client and written upstream. */
  readonly bytesFromClient: number;
  /** Bytes read from the server and written to the client. */
  readonly bytesToClient: number;
  readonly closedBy: ClosedBy;
  /** The first socket error, if the relay ended on one. */
  readonly error: Error | undefined;
}

/** What a caller may watch or add while relaying; every hook is optional. */
export interface RelayHooks {
  /** Sees each chunk read from the client, before it is written upstream. */
  readonly fromClient?: (chunk: Buffer) => void;
  /** Sees each chunk read from the server, before it is written to the client (valid only during the call). */
  readonly fromServer?: (chunk: Buffer) => void;
  /** The server ended or closed while the client had not: bytes to send the client before ending it, if any. */
  readonly serverGone?: () => Buffer | undefined;
}

/** How long a side may take to flush its pending writes after the other side closed. */
const FLUSH_GRACE_MS = 5_000;

/**
 * Relays bytes both ways until both sockets are closed, then calls `done` once.
 * Backpressure: a source is paused while its destination's buffer is full.
 * Half-close: a side's end is passed on as an end to the other side.
 * Teardown: when one side closes, the other is ended, given a grace period to flush, then destroyed.
 * `serverChunks`, when the server socket offers it, carries server data without a Buffer per read.
 */
export function relay(
  client: Duplex, server: Duplex, done: (result: RelayResult) => void, serverChunks?: ChunkSource, hooks: RelayHooks = {},
): void {
  let bytesFromClient = 0;
  let bytesToClient = 0;
  let closedBy: ClosedBy | undefined;
  let firstError: Error | undefined;
  let open = 2;
  let clientEnded = false;
  let farewellAsked = false;
  const fromClient = hooks.fromClient;
  const fromServer = hooks.fromServer;

  // The first time the server side ends or closes while the client is still there: the caller's last word.
  const farewell = (): void => {
    if (farewellAsked || clientEnded || closedBy === 'client') return;
    farewellAsked = true;
    const bytes = hooks.serverGone?.();
    if (bytes && client.writable) client.write(bytes);
  };

  const pump = (source: Duplex, sink: Duplex, count: (n: number) => void, watch: ((chunk: Buffer) => void) | undefined,
    onEnd: () => void): void => {
    source.on('data', (chunk: Buffer) => {
      count(chunk.length);
      watch?.(chunk);
      if (!sink.write(chunk)) source.pause();
    });
    sink.on('drain', () => source.resume());
    source.on('end', () => { onEnd(); sink.end(); });
  };

  const onClose = (side: ClosedBy, self: Duplex, other: Duplex) => (): void => {
    if (side === 'server') { flushServer(); farewell(); }
    closedBy ??= side;
    if (!other.destroyed) {
      other.end();
      if (other.writableFinished || other.writableLength === 0) other.destroy();
      else {
        const timer = setTimeout(() => other.destroy(), FLUSH_GRACE_MS);
        timer.unref();
        other.once('finish', () => { clearTimeout(timer); other.destroy(); });
        other.once('close', () => clearTimeout(timer));
      }
    }
    self.removeAllListeners('data');
    if (--open === 0) done({ bytesFromClient, bytesToClient, closedBy: closedBy!, error: firstError });
  };

  const onError = (error: Error): void => { firstError ??= error; };

  pump(client, server, (n) => { bytesFromClient += n; }, fromClient, () => { clientEnded = true; });
  let flushServer = (): void => undefined;
  if (serverChunks) flushServer = pumpChunks(server, serverChunks, client, (n) => { bytesToClient += n; }, fromServer, farewell);
  else pump(server, client, (n) => { bytesToClient += n; }, fromServer, farewell);
  client.on('error', onError).once('close', onClose('client', client, server));
  server.on('error', onError).once('close', onClose('server', server, client));
  // A side that ended before the relay began (a client that sent its startup and FIN together) has already
  // emitted 'end'; pass that half-close on now, or the other side would wait for it forever.
  if (client.readableEnded) { clientEnded = true; server.end(); }
  if (server.readableEnded) { farewell(); client.end(); }
  client.resume();
  server.resume();
}

/**
 * Like a 'data' pump, for a source that reads into a reused buffer: a chunk the sink could not write at once
 * stays referenced by the pending write, so the source is told to read the next one into a new buffer.
 * Returns the function that writes out whatever is still gathered.
 */
function pumpChunks(source: Duplex, chunks: ChunkSource, sink: Duplex, count: (n: number) => void,
  watch: ((chunk: Buffer) => void) | undefined, onEnd: () => void): () => void {
  // Whatever the handshake left in the stream goes first, in order.
  for (let chunk = source.read() as Buffer | null; chunk !== null; chunk = source.read() as Buffer | null) {
    count(chunk.length);
    watch?.(chunk);
    sink.write(chunk);
  }
  const writer = new BatchWriter(sink, () => source.pause());
  const retained = (): void => chunks.retainLast();
  chunks.attach((chunk) => {
    count(chunk.length);
    watch?.(chunk);
    return writer.write(chunk, retained);
  });
  sink.on('drain', () => source.resume());
  source.on('end', () => { writer.flush(); onEnd(); sink.end(); });
  // A server that closes without an 'end' (a reset) must not strand what was gathered for the client.
  return () => { if (sink.writable) writer.flush(); };
}
