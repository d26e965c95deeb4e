import { PROTOCOL_3_0, SqlState } from '../protocol/codes.js';
import { MessageBoundaries } from '../protocol/boundary.js';
import { ProtocolError } from '../protocol/errors.js';
import { errorResponse, negotiateProtocolVersion } from '../protocol/messages.js';
import { authenticateUpstream, ServerRejection } from './authenticate.js';
import type { CancelKeys } from './cancel-keys.js';
import { forwardCancel, type CancelOutcome } from './cancel.js';
import { ClientTlsFailure, readOpening } from './client-startup.js';
import { admitClient } from './client-login.js';
import { AccessPolicy, type AuthMethod } from '../client/policy.js';
import { ClientGone, ShuttingDown, Terminating, type ClientConnection } from './connection.js';
import { StreamClosedError } from './frame-stream.js';
import type { ConnectionSlots } from './connection-slots.js';
import type { ConnectRateLimiter } from './connect-rate.js';
import { ConnectionFailure, NO_METRICS, type ListenerMetrics, type Clock, type Dialer, type Logger, type TokenProvider } from './ports.js';
import { relay } from './relay.js';
import { signAndDial } from './sign-and-dial.js';
import { CompatFilter } from './compat-filter.js';
import { upstreamClosedError } from './upstream-closed.js';
import { upstreamStartup, type StartupRules, type UpstreamStartup } from './upstream-startup.js';
import { startupParameter, type StartupMessage } from '../protocol/startup.js';

/** Settings one session needs. */
export interface SessionSettings extends StartupRules {
  /** Deadline for the client's StartupMessage. */
  readonly startupTimeoutMs: number;
  /** Deadline for signing the token and reaching the endpoint (resolve, TCP, TLS), together. */
  readonly connectTimeoutMs: number;
  /** Deadline for the upstream authentication exchange once connected. */
  readonly authTimeoutMs: number;
  /** Pause before a failed client password is answered (default AUTH_FAILURE_DELAY_MS). */
  readonly authFailureDelayMs?: number;
}

/** The collaborators a session uses; all injected so tests can substitute them. */
export interface SessionDeps {
  readonly dialer: Dialer;
  readonly tokens: TokenProvider;
  readonly clock: Clock;
  readonly settings: SessionSettings;
  /** Who may connect and how they prove it; absent means every client is let in as it is (loopback default). */
  readonly access?: AccessPolicy;
  /** Where this listener's counters go (NO_METRICS when absent). */
  readonly metrics?: ListenerMetrics;
  /** The process-wide --max-connections budget (absent: no limit). */
  readonly slots?: ConnectionSlots;
  /** The --max-connect-rate queue of this listener's cluster (absent: no limit). */
  readonly connectRate?: ConnectRateLimiter;
}

/** How a connection ended, for the close log line. */
export type Outcome = 'relayed' | CancelOutcome | 'rejected-by-server' | 'refused' | 'failed' | 'tls-failed' | 'client-gone' | 'probe' | 'shutdown';

/** A short fixed pause before "password authentication failed" (PostgreSQL's auth_delay does the same job). */
export const AUTH_FAILURE_DELAY_MS = 250;

const FATAL_FLUSH_GRACE_MS = 2_000;
/** What a client may send before its login is done (pipelined queries) before the proxy stops reading it. */
const EARLY_CLIENT_BYTES = 1024 * 1024;
/** How long a drained session may take to reach the end of the message in progress before it is cut. */
const TERMINATE_WAIT_MS = 5_000;
const ERROR_RESPONSE = 0x45; // 'E': the server said why before closing
const TERMINATE = 0x58; // 'X': the client asked to close

const OPEN_POLICY = AccessPolicy.open();
/** PostgreSQL's Terminate message, sent upstream when a drained session ends between two client messages. */
const TERMINATE_MESSAGE = Buffer.from([TERMINATE, 0, 0, 0, 4]);

/** What a drained session's client is told when --max-sigterm-delay runs out (as PostgreSQL's smart shutdown says). */
export function shutdownFailure(): ConnectionFailure {
  return new ConnectionFailure(SqlState.adminShutdown, 'terminating connection: dsql-proxy is shutting down',
    'The proxy was stopped and its --max-sigterm-delay has passed; reconnect once it (or its replacement) is back.');
}

/** Per-connection facts the listener knows at accept. */
export interface AcceptFacts {
  /** No --max-connections slot was free: the client is told so once its startup packet has been read. */
  readonly overLimit?: boolean;
  /** True the first time this listener sees `key` (a warning is logged once per listener, not per connection). */
  readonly firstTime?: (key: string) => boolean;
}

/** Mutable facts gathered while the session runs, logged when it closes. */
interface SessionRecord {
  auth?: AuthMethod;
  tls?: boolean;
  user?: string;
  database?: string;
  upstream?: string;
  outcome?: Outcome;
  /** The SQLSTATE the client was refused with (for metrics). */
  sqlstate?: string;
}

/** One session's collaborators and state, passed between its phases. */
interface SessionContext {
  readonly conn: ClientConnection;
  readonly deps: SessionDeps;
  readonly keys: CancelKeys;
  readonly log: Logger;
  readonly record: SessionRecord;
  /** Clock reading at accept. */
  readonly started: number;
  readonly finish: (extra?: Record<string, unknown>) => void;
  readonly facts: AcceptFacts;
  readonly metrics: ListenerMetrics;
}

/**
 * Serves one client connection: opening, startup rewrite, token, dial, IAM authentication, then relay. Every
 * failure before the relay reaches the client as a FATAL ErrorResponse; every await runs under the connection's
 * signal, so a client that leaves or a server shutting down stops it at once. Never rejects.
 */
export async function runSession(conn: ClientConnection, deps: SessionDeps, keys: CancelKeys, log: Logger,
  facts: AcceptFacts = {}): Promise<void> {
  const started = deps.clock.now();
  const metrics = deps.metrics ?? NO_METRICS;
  const record: SessionRecord = {};
  const raw = conn.raw;
  raw.on('error', () => undefined); // errors surface through reads/writes; never crash the process
  raw.setNoDelay(true);
  raw.setKeepAlive(true, 30_000);
  const peer = raw.remoteAddress === undefined ? 'unix-socket' : `${raw.remoteAddress}:${raw.remotePort}`;
  log.debug({ client: peer }, 'client connected');
  const finish = (extra: Record<string, unknown> = {}): void => {
    const line = { client: peer, ...record, durationMs: Math.round(deps.clock.now() - started), ...extra };
    if (record.outcome === 'probe') log.debug(line, 'connection closed');
    else log.info(line, 'connection closed');
    metrics.connectionClosed(record.outcome ?? 'failed', record.sqlstate);
  };

  try {
    const opening = await readOpening(conn, deps.settings.startupTimeoutMs, deps.access?.tls);
    record.tls = conn.encrypted;
    if (opening.kind === 'probe') {
      record.outcome = 'probe';
      endAfterFlush(conn.client, Buffer.alloc(0));
    } else if (opening.kind === 'cancel') {
      if (deps.access && !deps.access.addressAllowed(raw.remoteAddress)) {
        record.outcome = 'cancel-dropped'; // a refused address dials nothing, not even a cancel
      } else {
        const result = await forwardCancel(conn, opening.request, deps, keys, log);
        record.outcome = result.outcome;
        record.upstream = result.upstream;
        metrics.cancel(result.outcome === 'cancel-forwarded');
      }
      // PostgreSQL closes after a CancelRequest; the socket is paused, so close it outright once flushed.
      endAfterFlush(conn.client, Buffer.alloc(0));
    } else if (facts.overLimit) {
      record.user = startupParameter(opening.message, 'user'); // the audit line names who was turned away
      const max = deps.slots?.max ?? 0;
      throw new ConnectionFailure(SqlState.tooManyConnections, `sorry, too many clients already: dsql-proxy serves at most ${max} (--max-connections)`,
        'Try again when other sessions have ended, use a connection pool, or raise --max-connections.');
    } else {
      await connectAndRelay({ conn, deps, keys, log, record, started, finish, facts, metrics }, opening.message, opening.remainder);
      return;
    }
  } catch (error) {
    record.tls ??= conn.encrypted; // a refusal inside TLS (no ALPN, a bad request after the handshake) says so too
    const reason = conn.signal.aborted ? conn.signal.reason as Error : error;
    conn.abort(reason instanceof Error ? reason : new Error(String(reason))); // releases any upstream socket
    const client = conn.client;
    if (reason instanceof ClientGone || (reason instanceof StreamClosedError && client.destroyed)) {
      record.outcome = 'client-gone';
      client.destroy(); // a client that only half-closed would otherwise stay open on our side
    } else if (reason instanceof ClientTlsFailure) {
      // The client speaks TLS and this proxy could not: no PostgreSQL error can reach it, so the log must say why.
      record.outcome = 'tls-failed';
      (reason.origin === 'configuration' ? log.warn : log.info).call(log, { error: reason.message }, 'client TLS failed');
      conn.destroy(reason);
    } else if (reason instanceof ShuttingDown) {
      record.outcome = 'shutdown';
    } else if (reason instanceof Terminating) {
      record.outcome = 'shutdown';
      record.sqlstate = SqlState.adminShutdown;
      closeWithError(client, shutdownFailure());
    } else if (reason instanceof ServerRejection) {
      log.warn({ sqlstate: reason.fields.code, error: reason.fields.message }, 'server rejected the connection');
      record.outcome = 'rejected-by-server';
      record.sqlstate = reason.fields.code;
      endAfterFlush(client, reason.frame); // relayed unchanged
    } else {
      const failure = toFailure(reason);
      const refused = failure.sqlstate.startsWith('28') || failure.sqlstate === SqlState.tooManyConnections;
      record.outcome = client.destroyed ? 'client-gone' : refused ? 'refused' : 'failed';
      record.sqlstate = failure.sqlstate;
      log.warn({ sqlstate: failure.sqlstate, error: failure.message }, refused ? 'client refused' : 'connection failed before relay');
      closeWithError(client, failure);
    }
  }
  finish();
}

/** Startup rewrite, token, dial, login; then hands both sockets to the relay. Rejects before the relay starts. */
async function connectAndRelay(ctx: SessionContext, message: StartupMessage, clientRemainder: Buffer): Promise<void> {
  const { conn, deps, log, record } = ctx;
  const { client } = conn;
  const startup = upstreamStartup(message, deps.settings);
  record.user = startup.user;
  record.database = startup.database;
  for (const name of startup.droppedSettings) {
    if (ctx.facts.firstTime?.(`setting:${name}`) ?? true) {
      log.warn({ setting: name }, 'a client sent a setting Aurora DSQL refuses in the startup packet: kept from DSQL (logged once per name)');
    }
  }
  if (startup.requestedDatabase !== undefined) {
    log.debug({ requested: startup.requestedDatabase, sent: startup.database }, 'database rewritten (DSQL has only postgres)');
  }
  if (startup.negotiate) client.write(negotiateProtocolVersion(PROTOCOL_3_0, startup.negotiate));
  const policy = deps.access ?? OPEN_POLICY;
  const admitted = await admitClient(conn, startup.user, policy, {
    timeoutMs: deps.settings.startupTimeoutMs,
    remainingMs: Math.max(0, deps.settings.startupTimeoutMs - (deps.clock.now() - ctx.started)),
    failureDelayMs: deps.settings.authFailureDelayMs ?? AUTH_FAILURE_DELAY_MS,
    mockSecret: policy.mockSecret, onAuthenticated: (method) => { record.auth = method; },
  }, clientRemainder);
  clientRemainder = admitted.remainder;
  const stopWatching = conn.watchClient(EARLY_CLIENT_BYTES);
  try {
    await loginAndRelay(ctx, startup, clientRemainder, stopWatching);
  } catch (error) {
    stopWatching();
    throw error;
  }
}

/** Token, dial and login while the client is watched; then the relay, with what the client sent meanwhile. */
async function loginAndRelay(ctx: SessionContext, startup: UpstreamStartup, clientRemainder: Buffer, stopWatching: () => Buffer): Promise<void> {
  const { conn, deps, keys, log, record } = ctx;
  const { client } = conn;
  const { token, upstream } = await signAndDial(conn, startup.user, deps);
  record.upstream = upstream.remoteAddress;
  const server = upstream.socket;
  server.on('error', () => undefined); // reported through the login or the relay

  const loginStarted = deps.clock.now();
  const login = await authenticateUpstream(server, {
    parameters: startup.parameters, token, timeoutMs: deps.settings.authTimeoutMs, signal: conn.signal,
    onNotice: (frame) => client.write(frame),
  });
  const { metrics } = ctx;
  metrics.upstreamLoggedIn((deps.clock.now() - loginStarted) / 1000);
  const unregister = login.backendKey ? keys.register(login.backendKey, { address: upstream.address }) : undefined;

  // From here the stream is at a message boundary both ways; follow it to tell a silent upstream close apart.
  const fromServer = new MessageBoundaries();
  const fromClient = new MessageBoundaries();
  const early = stopWatching();
  if (early.length > 0) clientRemainder = clientRemainder.length > 0 ? Buffer.concat([clientRemainder, early]) : early;
  client.write(login.greeting);
  const filter = deps.settings.sqlCompat === false ? undefined : new CompatFilter(client, server, {
    backendPid: login.backendKey && login.backendKey.length >= 4 ? login.backendKey.readInt32BE(0) : undefined,
    initialStatus: transactionStatus(login.greeting),
    answered: (statement) => log.debug({ statement: statement.kind, ...('name' in statement ? { parameter: statement.name } : {}) },
      'answered locally: Aurora DSQL refuses this statement (see --no-sql-compat)'),
    steppedAside: (reason) => log.info({ reason }, 'the SQL compatibility layer stepped aside for this session: every statement now goes to DSQL as sent'),
  }, (error) => log.error({ err: error instanceof Error ? error.message : String(error) }, 'the SQL compatibility layer failed: session ended'));
  if (login.remainder.length > 0) {
    fromServer.feed(login.remainder);
    if (!filter || filter.fromServer(login.remainder)) client.write(login.remainder);
  }
  if (clientRemainder.length > 0) {
    fromClient.feed(clientRemainder);
    if (!filter || filter.fromClient(clientRemainder)) server.write(clientRemainder);
  }
  log.debug({ upstream: record.upstream }, 'authenticated; relaying');
  record.outcome = 'relayed';
  conn.startRelay();
  let relayEnded = (): void => undefined;
  const control = relay(client, server, (result) => {
    unregister?.();
    relayEnded();
    ctx.finish({
      bytesFromClient: result.bytesFromClient,
      bytesToClient: result.bytesToClient,
      closedBy: result.closedBy,
      ...(result.error ? { error: result.error.message } : {}),
    });
  }, upstream.chunks, {
    ...(filter ? { filter } : {}),
    fromClient: (chunk) => fromClient.feed(chunk),
    fromServer: (chunk) => fromServer.feed(chunk),
    serverGone: () => {
      if (!fromServer.atBoundary || fromServer.lastType === ERROR_RESPONSE || fromClient.lastType === TERMINATE) return undefined;
      const ageMs = deps.clock.now() - ctx.started;
      log.info({ ageMs: Math.round(ageMs) }, 'the server closed the session without a message; telling the client');
      return upstreamClosedError(ageMs);
    },
  });
  relayEnded = metrics.relaying(control.bytes);
  conn.onTerminate(() => {
    // midMessage: the server was sending a message, which is let through whole before the FATAL.
    log.info({ midMessage: !fromServer.atBoundary }, 'terminating the session: the drain delay has passed');
    record.outcome = 'shutdown';
    record.sqlstate = SqlState.adminShutdown;
    control.endAtBoundary((chunk) => fromServer.feedToBoundary(chunk), fatalFrame(shutdownFailure()),
      fromClient.atBoundary ? TERMINATE_MESSAGE : undefined, TERMINATE_WAIT_MS);
  });
}

/** The status byte of the login's closing ReadyForQuery (its last byte). */
function transactionStatus(greeting: Buffer): 'I' | 'T' | 'E' {
  const status = String.fromCharCode(greeting[greeting.length - 1] ?? 0x49);
  return status === 'T' || status === 'E' ? status : 'I';
}

function toFailure(error: unknown): ConnectionFailure {
  if (error instanceof ConnectionFailure) return error;
  if (error instanceof ProtocolError) return new ConnectionFailure(error.sqlstate, error.message);
  if (error instanceof StreamClosedError) return new ConnectionFailure(SqlState.connectionFailure, error.message);
  const message = error instanceof Error ? error.message : String(error);
  return new ConnectionFailure(SqlState.internalError, `dsql-proxy internal error: ${message}`,
    'Please report this with the dsql-proxy log.');
}

/** Sends a FATAL ErrorResponse for `failure`, then closes the socket once it is flushed. */
export function closeWithError(client: ClientConnection['client'], failure: ConnectionFailure): void {
  endAfterFlush(client, fatalFrame(failure));
}

/** The FATAL ErrorResponse that tells the client about `failure`. */
function fatalFrame(failure: ConnectionFailure): Buffer {
  return errorResponse({ severity: 'FATAL', code: failure.sqlstate, message: failure.message, hint: failure.hint });
}

function endAfterFlush(client: ClientConnection['client'], bytes: Buffer): void {
  if (client.destroyed) return;
  const timer = setTimeout(() => client.destroy(), FATAL_FLUSH_GRACE_MS);
  timer.unref();
  client.once('close', () => clearTimeout(timer));
  client.end(bytes, () => client.destroy());
}
