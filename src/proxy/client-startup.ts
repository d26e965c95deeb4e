import { SqlState } from '../protocol/codes.js';
import { ProtocolError } from '../protocol/errors.js';
import { parseStartupPacket, type CancelRequest, type StartupMessage } from '../protocol/startup.js';
import { deadline, DeadlineExceeded } from './abort.js';
import type { ClientConnection } from './connection.js';
import { FrameStream, StreamClosedError } from './frame-stream.js';
import { ConnectionFailure } from './ports.js';

/** What a client opened its connection with. */
export type ClientOpening =
  | { readonly kind: 'startup'; readonly message: StartupMessage; readonly remainder: Buffer }
  | { readonly kind: 'cancel'; readonly request: CancelRequest }
  /** Connected and left without sending a byte: a load balancer's or orchestrator's TCP health probe. */
  | { readonly kind: 'probe' };

const SSL_NOT_SUPPORTED = Buffer.from('N');

/**
 * Reads SSLRequest/GSSENCRequest (answered 'N'), then a CancelRequest or a StartupMessage, within the startup
 * deadline and under the connection's signal. Rejects with ProtocolError, ConnectionFailure or the signal's reason.
 */
export async function readOpening(conn: ClientConnection, timeoutMs: number): Promise<ClientOpening> {
  const reader = new FrameStream(conn.client, 'startup');
  const limit = deadline(conn.signal, timeoutMs);
  const onAbort = (): void => {
    const reason = limit.signal.reason as Error;
    reader.abort(reason instanceof DeadlineExceeded ? new ConnectionFailure(SqlState.protocolViolation,
      `no startup packet received within ${timeoutMs / 1000} s`, 'Connect with a PostgreSQL client (psql, JDBC, libpq).') : reason);
  };
  if (limit.signal.aborted) onAbort();
  else limit.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const answered = new Set<string>();
    for (;;) {
      let frame: Buffer;
      try {
        frame = await reader.next();
      } catch (error) {
        if (error instanceof StreamClosedError && reader.bytesReceived === 0) return { kind: 'probe' };
        throw error;
      }
      const packet = parseStartupPacket(frame);
      if (packet.kind === 'ssl' || packet.kind === 'gssenc') {
        if (answered.has(packet.kind)) throw new ProtocolError(`duplicate ${packet.kind === 'ssl' ? 'SSL' : 'GSSENC'} request`);
        answered.add(packet.kind);
        conn.client.write(SSL_NOT_SUPPORTED);
        continue;
      }
      if (packet.kind === 'cancel') return { kind: 'cancel', request: packet };
      return { kind: 'startup', message: packet, remainder: reader.detach() };
    }
  } finally {
    limit.clear();
    limit.signal.removeEventListener('abort', onAbort);
    reader.detach();
  }
}
