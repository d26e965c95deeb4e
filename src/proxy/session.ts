import type { Socket } from 'node:net';
import { PROTOCOL_3_0, SqlState } from '../protocol/codes.js';
import { ProtocolError } from '../protocol/errors.js';
import { errorResponse, negotiateProtocolVersion } from '../protocol/messages.js';
import {
  negotiateVersion, parseStartupPacket, startupParameter, withClusterOption, type StartupMessage,
} from '../protocol/startup.js';
import { authenticateUpstream, ServerRejection, type AuthenticatedUpstream } from './authenticate.js';
import { forwardCancel } from './cancel.js';
import { FrameStream, StreamClosedError } from './frame-stream.js';
import { ConnectionFailure, type Clock, type Dialer, type Logger, type TokenProvider } from './ports.js';
import { relay } from './relay.js';

/** Settings one session needs. */
export interface SessionSettings {
  readonly clusterId: string;
  readonly injectClusterId: boolean;
  /** Deadline for the client's StartupMessage. */
  readonly startupTimeoutMs: number;
  /** Deadline for the upstream authentication exchange once connected. */
  readonly authTimeoutMs: number;
}

/** The collaborators a session uses; all injected so tests can substitute them. */
export interface SessionDeps {
  readonly dialer: Dialer;
  readonly tokens: TokenProvider;
  readonly clock: Clock;
  readonly settings: SessionSettings;
}

/** How a connection ended, for the close log line. */
export type Outcome = 'relayed' | 'cancel-forwarded' | 'rejected-by-server' | 'failed' | 'client-gone';

const SSL_NOT_SUPPORTED = Buffer.from('N');
const FATAL_FLUSH_GRACE_MS = 2_000;

/** Mutable facts gathered while the session runs, logged when it closes. */
interface SessionRecord {
  user?: string;
  database?: string;
  upstream?: string;
  outcome?: Outcome;
}

/**
 * Serves one client connection: handshake, startup rewrite, dial, IAM authentication, then relay.
 * Every failure before the relay reaches the client as a FATAL ErrorResponse. Never rejects.
 */
export async function runSession(client: Socket, deps: SessionDeps, log: Logger): Promise<void> {
  const started = deps.clock.now();
  const record: SessionRecord = {};
  client.on('error', () => undefined); // errors surface through reads/writes; never crash the process
  client.setNoDelay(true);
  client.setKeepAlive(true, 30_000);
  log.info({ client: `${client.remoteAddress}:${client.remotePort}` }, 'client connected');

  const finish = (extra: Record<string, unknown>): void => {
    log.info({ ...record, durationMs: Math.round(deps.clock.now() - started), ...extra }, 'connection closed');
  };

  try {
    const startup = await readStartup(client, deps, log, record);
    if (!startup) { finish({}); return; }
    await authenticateAndRelay(client, startup.message, startup.remainder, deps, log, record, finish);
  } catch (error) {
    const failure = toFailure(error);
    record.outcome ??= client.destroyed ? 'client-gone' : 'failed';
    log.warn({ sqlstate: failure.sqlstate, error: failure.message }, 'connection failed before relay');
    closeWithError(client, failure);
    finish({});
  }
}

/** Reads SSLRequest/GSSENCRequest/CancelRequest/StartupMessage until a StartupMessage; undefined after a cancel. */
async function readStartup(client: Socket, deps: SessionDeps, log: Logger, record: SessionRecord):
  Promise<{ message: StartupMessage; remainder: Buffer } | undefined> {
  const reader = new FrameStream(client, 'startup');
  const seconds = deps.settings.startupTimeoutMs / 1000;
  const timer = setTimeout(() => reader.abort(new ConnectionFailure(SqlState.protocolViolation,
    `no startup packet received within ${seconds} s`, 'Connect with a PostgreSQL client (psql, JDBC, libpq).')),
  deps.settings.startupTimeoutMs);
  try {
    const answered = new Set<string>();
    for (;;) {
      const packet = parseStartupPacket(await reader.next());
      if (packet.kind === 'ssl' || packet.kind === 'gssenc') {
        if (answered.has(packet.kind)) throw new ProtocolError(`duplicate ${packet.kind === 'ssl' ? 'SSL' : 'GSSENC'} request`);
        answered.add(packet.kind);
        client.write(SSL_NOT_SUPPORTED);
        continue;
      }
      if (packet.kind === 'cancel') {
        clearTimeout(timer);
        reader.detach();
        record.upstream = await forwardCancel(deps.dialer, packet.raw);
        record.outcome = 'cancel-forwarded';
        log.debug({ processId: packet.processId }, 'cancel request forwarded');
        // PostgreSQL closes after a CancelRequest. The socket is paused, so a client's FIN would go unseen
        // (client sockets allow half-open): close it outright once the end is flushed.
        endAfterFlush(client, Buffer.alloc(0));
        return undefined;
      }
      return { message: packet, remainder: reader.detach() };
    }
  } finally {
    clearTimeout(timer);
  }
}

async function authenticateAndRelay(
  client: Socket, startup: StartupMessage, clientRemainder: Buffer, deps: SessionDeps, log: Logger,
  record: SessionRecord, finish: (extra: Record<string, unknown>) => void,
): Promise<void> {
  const user = startupParameter(startup, 'user');
  if (!user) {
    throw new ConnectionFailure(SqlState.invalidAuthorization, 'no PostgreSQL user name specified in startup packet',
      'Set the user, e.g. psql "host=localhost user=admin dbname=postgres".');
  }
  record.user = user;
  record.database = startupParameter(startup, 'database') ?? user;

  const negotiation = negotiateVersion(startup);
  if (negotiation.mustNegotiate) client.write(negotiateProtocolVersion(PROTOCOL_3_0, negotiation.unsupportedOptions));
  const parameters = deps.settings.injectClusterId
    ? withClusterOption(negotiation.parameters, deps.settings.clusterId)
    : negotiation.parameters;

  const upstream = await deps.dialer.dial();
  record.upstream = upstream.remoteAddress;
  const server = upstream.socket;
  server.on('error', () => undefined); // reported through the login or the relay
  if (client.destroyed) { server.destroy(); record.outcome = 'client-gone'; finish({}); return; }

  let login: AuthenticatedUpstream;
  try {
    login = await authenticateUpstream(server, {
      parameters, user, tokens: deps.tokens, timeoutMs: deps.settings.authTimeoutMs,
      onNotice: (frame) => client.write(frame),
    });
  } catch (error) {
    server.destroy();
    if (!(error instanceof ServerRejection)) throw error;
    log.warn({ sqlstate: error.fields.code, error: error.fields.message }, 'server rejected the connection');
    record.outcome = 'rejected-by-server';
    endAfterFlush(client, error.frame); // relayed unchanged
    finish({});
    return;
  }
  // Everything from AuthenticationOk on goes to the client byte for byte.
  client.write(login.authOk);
  if (login.remainder.length > 0) client.write(login.remainder);
  if (clientRemainder.length > 0) server.write(clientRemainder);
  log.debug({ upstream: record.upstream }, 'authenticated; relaying');
  record.outcome = 'relayed';
  relay(client, server, (result) => finish({
    bytesFromClient: result.bytesFromClient,
    bytesToClient: result.bytesToClient,
    closedBy: result.closedBy,
    ...(result.error ? { error: result.error.message } : {}),
  }), upstream.chunks);
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
export function closeWithError(client: Socket, failure: ConnectionFailure): void {
  endAfterFlush(client, errorResponse({
    severity: 'FATAL', code: failure.sqlstate, message: failure.message, hint: failure.hint,
  }));
}

function endAfterFlush(client: Socket, bytes: Buffer): void {
  if (client.destroyed) return;
  const timer = setTimeout(() => client.destroy(), FATAL_FLUSH_GRACE_MS);
  timer.unref();
  client.once('close', () => clearTimeout(timer));
  client.end(bytes, () => client.destroy());
}
