import type { Duplex } from 'node:stream';
import { BatchWriter } from './batch-writer.js';
import type { ChunkSource, RelayBytes } from './ports.js';

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
  /** Rewrites the stream both ways (the SQL compatibility layer); absent, bytes pass untouched. */
  readonly filter?: RelayFilter;
}

/**
 * Sits between the two sides and may replace what passes. Each method returns true when the chunk is to pass
 * as it is (the relay writes it); otherwise the filter has already sent what replaces it through the writers
 * given to `attach`, which keep the relay's order and backpressure.
 */
export interface RelayFilter {
  /** From now on, bytes for the server go to `toServer` and bytes for the client (valid only during the call) to `toClient`. */
  attach(toServer: (bytes: Buffer) => void, toClient: (bytes: Buffer) => void): void;
  /** Takes a chunk read from the client. */
  fromClient(chunk: Buffer): boolean;
  /** Takes a chunk read from the server (valid only during the call). */
  fromServer(chunk: Buffer): boolean;
  /** True while the filter holds so much for the server to answer that the client is not to be read. */
  holdsClient(): boolean;
}

/** Says how many bytes of `chunk` complete the message in progress: 0 at a boundary, -1 when it does not end in it. */
export type BoundaryCut = (chunk: Buffer) => number;

/** A running relay: its live byte counts, and a way to end it between two messages. */
export interface RelayControl {
  /** Bumped once per read; read by /metrics while the relay runs. */
  readonly bytes: RelayBytes;
  /**
   * Ends the relay cleanly: the client stops being read, the server's bytes keep flowing until `cut` finds the end
   * of the message in progress, then `farewell` (a FATAL ErrorResponse) goes to the client, `serverFarewell` (a
   * Terminate, when the client side is at a boundary too) to the server, and both are closed. When no boundary
   * comes within `waitMs`, both are destroyed without a word.
   */
  endAtBoundary(cut: BoundaryCut, farewell: Buffer, serverFarewell: Buffer | undefined, waitMs: number): void;
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
): RelayControl {
  const bytes = { fromClient: 0, toClient: 0 };
  let closedBy: ClosedBy | undefined;
  let firstError: Error | undefined;
  let open = 2;
  let clientEnded = false;
  let farewellAsked = false;
  const fromClient = hooks.fromClient;
  // Replaced by the cutting watcher when the relay is asked to end at a message boundary.
  let fromServer = hooks.fromServer;
  /** While ending: the server chunk is written only up to this many bytes (-1: whole), then the relay ends. */
  let cutAt = -1;
  let finishing: (() => void) | undefined;
  /** Once ending: the client stays paused, even when the server's buffer drains (that would restart it). */
  let clientHeld = false;

  // The first time the server side ends or closes while the client is still there: the caller's last word.
  const farewell = (): void => {
    if (farewellAsked || clientEnded || closedBy === 'client') return;
    farewellAsked = true;
    const bytes = hooks.serverGone?.();
    if (bytes && client.writable) client.write(bytes);
  };

  const filter = hooks.filter;
  // Whether the client may be read: not while ending, while the server does not take its bytes, while it does not
  // take the proxy's answers, or while the filter holds too many of them waiting for the server.
  const clientReadable = (): boolean => !clientHeld && !server.writableNeedDrain && !client.writableNeedDrain && !filter?.holdsClient();
  const pump = (source: Duplex, sink: Duplex, count: (n: number) => void, watch: () => ((chunk: Buffer) => void) | undefined,
    onEnd: () => void): void => {
    const filtered = filter && (source === client ? filter.fromClient.bind(filter) : filter.fromServer.bind(filter));
    source.on('data', (chunk: Buffer) => {
      count(chunk.length);
      watch()?.(chunk);
      if (cutAt >= 0 && source === server) { sink.write(chunk.subarray(0, cutAt)); finishing!(); return; }
      if (filtered) {
        if (filtered(chunk)) sink.write(chunk);
        // The filter may also have written to the source's side (its own answers): stop reading a peer that
        // does not take them, as PostgreSQL stops reading a client that does not read.
        if (source === client ? !clientReadable() : sink.writableNeedDrain) source.pause();
        else if (source === server && client.isPaused() && clientReadable()) client.resume();
        return;
      }
      if (!sink.write(chunk)) source.pause();
    });
    sink.on('drain', () => { if (source !== client || clientReadable()) source.resume(); });
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
    if (--open === 0) done({ bytesFromClient: bytes.fromClient, bytesToClient: bytes.toClient, closedBy: closedBy!, error: firstError });
  };

  const onError = (error: Error): void => { firstError ??= error; };

  pump(client, server, (n) => { bytes.fromClient += n; }, () => fromClient, () => { clientEnded = true; });
  let flushServer = (): void => undefined;
  let toClient = (bytes: Buffer): void => { client.write(bytes); };
  const watchServer = (): ((chunk: Buffer) => void) | undefined => fromServer;
  const cutServer = (): number => cutAt;
  if (serverChunks) {
    // The server's answers may release what the filter held: the client is read again once it may be.
    const serverFilter = filter && {
      fromServer: (chunk: Buffer): boolean => {
        const pass = filter.fromServer(chunk);
        if (client.isPaused() && clientReadable()) client.resume();
        return pass;
      },
    };
    const chunked = pumpChunks(server, serverChunks, client, (n) => { bytes.toClient += n; }, watchServer, farewell, cutServer,
      () => finishing!(), serverFilter);
    flushServer = chunked.flush;
    toClient = chunked.write;
  } else pump(server, client, (n) => { bytes.toClient += n; }, watchServer, farewell);
  if (filter) {
    filter.attach((bytes) => { server.write(bytes); }, toClient);
    client.on('drain', () => { if (clientReadable()) client.resume(); });
  }
  client.on('error', onError).once('close', onClose('client', client, server));
  server.on('error', onError).once('close', onClose('server', server, client));
  // A side that ended before the relay began (a client that sent its startup and FIN together) has already
  // emitted 'end'; pass that half-close on now, or the other side would wait for it forever.
  if (client.readableEnded) { clientEnded = true; server.end(); }
  if (server.readableEnded) { farewell(); client.end(); }
  client.resume();
  server.resume();

  const endAtBoundary = (cut: BoundaryCut, last: Buffer, serverLast: Buffer | undefined, waitMs: number): void => {
    if (finishing || closedBy) return;
    clientHeld = true;
    client.pause(); // what the client sends from now on would only be cut off mid-way
    const timer = setTimeout(() => { client.destroy(); server.destroy(); }, waitMs);
    timer.unref();
    finishing = (): void => {
      clearTimeout(timer);
      fromServer = undefined;
      cutAt = -1;
      farewellAsked = true; // the farewell below replaces serverGone's
      // Nothing more is read from the server, and a drained client must not restart it.
      server.removeAllListeners('data');
      client.removeAllListeners('drain');
      server.pause();
      flushServer();
      const hard = setTimeout(() => { client.destroy(); server.destroy(); }, FLUSH_GRACE_MS);
      hard.unref(); // left to run out: destroying a closed socket again does nothing
      const destroyServer = (): void => { server.destroy(); };
      if (!server.writable) server.destroy();
      else if (serverLast) server.end(serverLast, destroyServer);
      else server.end(destroyServer);
      if (client.writable) client.end(last, () => client.destroy());
      else client.destroy();
    };
    flushServer();
    const taken = cut(Buffer.alloc(0));
    if (taken === 0) { finishing(); return; }
    // Until the message in progress ends, each server chunk is measured before it is written.
    fromServer = (chunk): void => { cutAt = cut(chunk); };
  };
  return { bytes, endAtBoundary };
}

/**
 * Like a 'data' pump, for a source that reads into a reused buffer: a chunk the sink could not write at once
 * stays referenced by the pending write, so the source is told to read the next one into a new buffer.
 * Returns the function that writes out whatever is still gathered, and the writer (in order with the server's
 * bytes) for anything else bound for the client.
 */
function pumpChunks(source: Duplex, chunks: ChunkSource, sink: Duplex, count: (n: number) => void,
  watch: () => ((chunk: Buffer) => void) | undefined, onEnd: () => void, cutAt: () => number, finish: () => void,
  filter: Pick<RelayFilter, 'fromServer'> | undefined): { flush: () => void; write: (bytes: Buffer) => void } {
  // Whatever the handshake left in the stream goes first, in order.
  for (let chunk = source.read() as Buffer | null; chunk !== null; chunk = source.read() as Buffer | null) {
    count(chunk.length);
    watch()?.(chunk);
    sink.write(chunk);
  }
  const writer = new BatchWriter(sink, () => source.pause());
  const retained = (): void => chunks.retainLast();
  chunks.attach((chunk) => {
    count(chunk.length);
    watch()?.(chunk);
    const cut = cutAt();
    if (cut >= 0) {
      writer.flush();
      sink.write(Buffer.from(chunk.subarray(0, cut))); // the reused read buffer must not be written by reference
      finish();
      return false;
    }
    if (filter && !filter.fromServer(chunk)) return !sink.writableNeedDrain;
    return writer.write(chunk, retained);
  });
  sink.on('drain', () => source.resume());
  source.on('end', () => { writer.flush(); onEnd(); sink.end(); });
  // A server that closes without an 'end' (a reset) must not strand what was gathered for the client.
  return { flush: () => { if (sink.writable) writer.flush(); }, write: (bytes) => { writer.write(bytes, retained); } };
}
