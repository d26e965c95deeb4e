import type { Duplex } from 'node:stream';

/** A failure the client should see as a FATAL ErrorResponse: SQLSTATE, cause and the fix. */
export class ConnectionFailure extends Error {
  /** SQLSTATE sent to the client. */
  readonly sqlstate: string;
  /** What the user can do about it. */
  readonly hint: string | undefined;

  constructor(sqlstate: string, message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectionFailure';
    this.sqlstate = sqlstate;
    this.hint = hint;
  }
}

/** An upstream connection that has completed the TLS handshake. */
export interface UpstreamConnection {
  /** The encrypted stream to the server. */
  readonly socket: Duplex;
  /** `address:port` actually connected to, for logs. */
  readonly remoteAddress: string;
  /** The IP address actually connected to (a cancel for this session dials the same one). */
  readonly address: string;
  /** The socket's reads without a per-read allocation, where the dialer can offer them. */
  readonly chunks?: ChunkSource;
}

/**
 * What a socket reads, handed over in one reused buffer instead of a new Buffer per read. Until `attach`,
 * reads go into the socket's stream as usual (copied), so handshake code can use `data` events.
 */
export interface ChunkSource {
  /**
   * From now on, gives every chunk read to `sink` instead of the stream. A chunk is valid only during the
   * call unless `retainLast` is called; `sink` returns false to stop reading until the socket is resumed.
   */
  attach(sink: (chunk: Buffer) => boolean): void;
  /** The chunk just delivered is still referenced (e.g. by a pending write): read the next into a new buffer. */
  retainLast(): void;
}

/** Per-dial choices. */
export interface DialOptions {
  /** Dial this resolved address instead of resolving the endpoint (a cancel goes where its session went). */
  readonly address?: string;
  /** Aborting it stops the dial at once: sockets are destroyed and the dial rejects. */
  readonly signal?: AbortSignal;
}

/** Opens upstream connections; rejects with ConnectionFailure. */
export interface Dialer {
  /** Connects, negotiates TLS and returns the encrypted stream. */
  dial(options?: DialOptions): Promise<UpstreamConnection>;
}

/** Supplies a fresh IAM token for a database role; rejects with ConnectionFailure. */
export interface TokenProvider {
  /**
   * Returns a token valid for `user` (DbConnectAdmin for `admin`, DbConnect otherwise). Rejects with a
   * ConnectionFailure when `signal` aborts first; a pending signature is never awaited past it.
   */
  token(user: string, signal?: AbortSignal): Promise<string>;
}

/** Monotonic time source in milliseconds, for durations. */
export interface Clock {
  /** Current time in milliseconds. */
  now(): number;
}

type LogMethod = (fields: object, message?: string) => void;

/** The subset of pino's logger the proxy uses, so tests can capture lines. */
export interface Logger {
  trace: LogMethod;
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
  /** A logger that adds `bindings` to every line. */
  child(bindings: Record<string, unknown>): Logger;
}

/** The real monotonic clock. */
export const systemClock: Clock = { now: () => performance.now() };

/** Live byte counts of one relay: plain fields the relay bumps once per read, read by /metrics when scraped. */
export interface RelayBytes {
  /** Bytes read from the client and written upstream so far. */
  readonly fromClient: number;
  /** Bytes read from the server and written to the client so far. */
  readonly toClient: number;
}

/**
 * What one listener reports for /metrics. Every call is a counter bump or a histogram observation, made once per
 * connection or per event, never per message: bytes are read from the relays' own counters at scrape time.
 */
export interface ListenerMetrics {
  /** A client connection was accepted; it counts as active until connectionClosed. */
  connectionAccepted(): void;
  /**
   * The connection is closed. `outcome` is the close line's outcome (relayed, refused, failed, client-gone, …);
   * `sqlstate` is the SQLSTATE the client was sent when the proxy or the server refused it.
   */
  connectionClosed(outcome: string, sqlstate?: string): void;
  /** Reaching the endpoint (resolve, TCP, TLS) took `seconds`. */
  upstreamConnected(seconds: number): void;
  /** The IAM login at the server (token sent → ReadyForQuery) took `seconds`. */
  upstreamLoggedIn(seconds: number): void;
  /** Signing an IAM token failed (credential source error or timeout). */
  tokenSigningFailed(): void;
  /** A CancelRequest was forwarded upstream (true) or dropped (false). */
  cancel(forwarded: boolean): void;
  /** A relay started with these live counters; the returned function is called once when it ends. */
  relaying(bytes: RelayBytes): () => void;
}

/** Metrics that go nowhere (no --http-listen). */
export const NO_METRICS: ListenerMetrics = {
  connectionAccepted: () => undefined,
  connectionClosed: () => undefined,
  upstreamConnected: () => undefined,
  upstreamLoggedIn: () => undefined,
  tokenSigningFailed: () => undefined,
  cancel: () => undefined,
  relaying: () => () => undefined,
};
