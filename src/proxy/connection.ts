import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';

/** The abort reason when the client went away before the relay started. */
export class ClientGone extends Error {
  constructor() {
    super('the client closed the connection');
    this.name = 'ClientGone';
  }
}

/** The abort reason when the server is closing every connection. */
export class ShuttingDown extends Error {
  constructor() {
    super('dsql-proxy is shutting down');
    this.name = 'ShuttingDown';
  }
}

/** The abort reason when a draining proxy's --max-sigterm-delay ran out before the session ended. */
export class Terminating extends Error {
  constructor() {
    super('terminating connection: dsql-proxy is shutting down');
    this.name = 'Terminating';
  }
}

/**
 * Owns one client connection's sockets from accept to close: the client socket and every upstream socket opened
 * for it. Its signal aborts when the client leaves before the relay (ClientGone) or the server shuts down
 * (ShuttingDown); every await of the session runs under it, so no phase outlives the client. Until the relay
 * starts, an abort destroys the upstream sockets; from then on the relay tears them down (flushing first).
 */
export class ClientConnection {
  private readonly controller = new AbortController();
  private readonly upstreams = new Set<Duplex>();
  private relaying = false;
  private clientClosed = false;
  private onDone: (() => void) | undefined;
  private terminator: (() => void) | undefined;

  private current: Socket;

  /** Resolves once the client socket and every adopted upstream socket have closed. */
  readonly done: Promise<void>;

  /** Takes ownership of an accepted socket (`raw`: the TCP or unix socket, whatever later runs over it). */
  constructor(readonly raw: Socket) {
    this.current = raw;
    this.done = new Promise((resolve) => { this.onDone = resolve; });
    raw.once('close', () => {
      this.clientClosed = true;
      if (!this.relaying) this.abort(new ClientGone());
      this.settleIfDone();
    });
  }

  /** The stream to the client: the accepted socket, or the TLS socket over it once TLS has started. */
  get client(): Socket {
    return this.current;
  }

  /** Whether the client talks TLS to the proxy. */
  get encrypted(): boolean {
    return this.current !== this.raw;
  }

  /** From now on the client is read and written through `tls`, which runs over the accepted socket. */
  useTls(tls: TLSSocket): void {
    tls.on('error', () => undefined); // surfaces through reads and writes, as on the plain socket
    this.current = tls;
  }

  /** Aborts when the connection must stop whatever it is waiting for. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Takes ownership of an upstream socket; when the connection is already aborted, destroys it and returns false. */
  adopt(upstream: Duplex): boolean {
    if (this.signal.aborted) {
      upstream.destroy();
      return false;
    }
    this.upstreams.add(upstream);
    upstream.once('close', () => {
      this.upstreams.delete(upstream);
      this.settleIfDone();
    });
    return true;
  }

  /** From now on the relay owns teardown: a client leaving no longer destroys the upstream at once. */
  startRelay(): void {
    this.relaying = true;
  }

  /** How to end this connection gracefully once its relay runs (set by the session). */
  onTerminate(terminator: () => void): void {
    this.terminator = terminator;
  }

  /**
   * Ends the connection gracefully (a drain's deadline): before the relay, every phase aborts with Terminating and
   * the session tells the client; during the relay, the relay ends at the next message boundary.
   */
  terminate(): void {
    if (this.terminator) this.terminator();
    else this.abort(new Terminating());
  }

  /** Stops every pending phase with `reason`; before the relay, destroys the upstream sockets. */
  abort(reason: Error): void {
    if (!this.signal.aborted) this.controller.abort(reason);
    if (!this.relaying) for (const upstream of this.upstreams) upstream.destroy();
  }

  /** Closes everything at once (server shutdown): the phases abort, every socket is destroyed. */
  destroy(reason: Error = new ShuttingDown()): void {
    if (!this.signal.aborted) this.controller.abort(reason);
    for (const upstream of this.upstreams) upstream.destroy();
    this.current.destroy();
    this.raw.destroy();
  }

  /**
   * Keeps reading the client while the proxy signs, dials and logs in: a paused socket never sees the client's
   * FIN, so a client that gave up (psql killed, a driver's own connect timeout) would hold an upstream login until
   * the deadline. A FIN now aborts the connection with ClientGone at once. What the client sends meanwhile
   * (pipelined queries) is kept, up to `limit` bytes (then reading pauses), and handed back by the returned function,
   * which ends the watch.
   */
  watchClient(limit: number): () => Buffer {
    const held: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer): void => {
      held.push(chunk);
      total += chunk.length;
      if (total >= limit) this.client.pause();
    };
    const onEnd = (): void => this.abort(new ClientGone());
    this.client.on('data', onData);
    this.client.once('end', onEnd);
    if (this.client.readableEnded) onEnd();
    else this.client.resume();
    return () => {
      this.client.off('data', onData);
      this.client.off('end', onEnd);
      this.client.pause();
      return held.length === 1 ? held[0]! : Buffer.concat(held);
    };
  }

  private settleIfDone(): void {
    if (this.clientClosed && this.upstreams.size === 0) this.onDone?.();
  }
}
