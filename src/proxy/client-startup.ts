import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { SqlState } from '../protocol/codes.js';
import { ProtocolError } from '../protocol/errors.js';
import { parseStartupPacket, type CancelRequest, type StartupMessage } from '../protocol/startup.js';
import { POSTGRESQL_ALPN, startServerTls, type LocalTls } from '../client/tls.js';
import { abortable, deadline, DeadlineExceeded } from './abort.js';
import type { ClientConnection } from './connection.js';
import { FrameStream, StreamClosedError } from './frame-stream.js';
import { ConnectionFailure } from './ports.js';

/** What a client opened its connection with. */
export type ClientOpening =
  | { readonly kind: 'startup'; readonly message: StartupMessage; readonly remainder: Buffer }
  | { readonly kind: 'cancel'; readonly request: CancelRequest }
  /** Connected and left without sending a byte: a load balancer's or orchestrator's TCP health probe. */
  | { readonly kind: 'probe' };

/**
 * The client wanted TLS and no PostgreSQL error can be sent to it: no local certificate for a direct TLS client,
 * or a handshake that failed. The session logs the message and closes the socket.
 */
export class ClientTlsFailure extends Error {
  /** `origin` configuration: this proxy lacks what the client needs (worth a warning); `client`: the client's handshake failed. */
  constructor(message: string, readonly origin: 'configuration' | 'client' = 'client') {
    super(message);
    this.name = 'ClientTlsFailure';
  }
}

const SSL_NOT_SUPPORTED = Buffer.from('N');
const SSL_ACCEPTED = Buffer.from('S');
/** First byte of a TLS record carrying a handshake: a ClientHello sent without an SSLRequest (direct TLS). */
const TLS_HANDSHAKE_RECORD = 0x16;

/**
 * Reads the opening within the startup deadline and under the connection's signal: TLS when the client asks for it
 * (SSLRequest answered 'S', or a direct ClientHello) and `tls` is configured, GSSENCRequest answered 'N', then a
 * CancelRequest or a StartupMessage. Rejects with ProtocolError, ConnectionFailure, ClientTlsFailure, or the
 * signal's reason.
 */
export async function readOpening(conn: ClientConnection, timeoutMs: number, tls?: LocalTls): Promise<ClientOpening> {
  const limit = deadline(conn.signal, timeoutMs);
  let handshaking = false;
  const wait = async <T>(promise: Promise<T>): Promise<T> => {
    try {
      return await abortable(promise, limit.signal);
    } catch (error) {
      if (!(error instanceof DeadlineExceeded)) throw error;
      if (handshaking) throw new ClientTlsFailure(`the client did not finish the TLS handshake within ${timeoutMs / 1000} s`);
      throw new ConnectionFailure(SqlState.protocolViolation, `no startup packet received within ${timeoutMs / 1000} s`,
        'Connect with a PostgreSQL client (psql, JDBC, libpq).');
    }
  };
  let reader: FrameStream | undefined;
  try {
    const first = await wait(firstChunk(conn.raw));
    if (first === undefined) return { kind: 'probe' };
    let initial: Buffer | undefined = first;
    if (first[0] === TLS_HANDSHAKE_RECORD) {
      if (!tls) {
        throw new ClientTlsFailure('a client started TLS directly (sslnegotiation=direct), but this proxy has no local TLS: '
          + 'start it with --tls-cert and --tls-key, or connect with sslnegotiation=postgres (the default) and sslmode prefer or disable', 'configuration');
      }
      conn.raw.unshift(first);
      initial = undefined;
      handshaking = true;
      await wait(startTls(conn, tls, true));
      handshaking = false;
    }
    const answered = new Set<string>();
    for (;;) {
      reader = new FrameStream(conn.client, 'startup', undefined, initial);
      initial = undefined;
      const frame = await wait(reader.next());
      const packet = parseStartupPacket(frame);
      if (packet.kind === 'cancel') return { kind: 'cancel', request: packet };
      if (packet.kind === 'startup') return { kind: 'startup', message: packet, remainder: reader.detach() };
      if (answered.has(packet.kind) || (packet.kind === 'ssl' && conn.encrypted)) {
        throw new ProtocolError(`duplicate ${packet.kind === 'ssl' ? 'SSL' : 'GSSENC'} request`);
      }
      answered.add(packet.kind);
      if (packet.kind === 'gssenc' || !tls) {
        initial = reader.detach();
        conn.client.write(SSL_NOT_SUPPORTED);
        continue;
      }
      // CVE-2021-23214: bytes sent after the SSLRequest but before 'S' were not protected by TLS.
      if (reader.detach().length > 0) throw new ProtocolError('received unencrypted data after SSL request');
      conn.client.write(SSL_ACCEPTED);
      handshaking = true;
      await wait(startTls(conn, tls, false));
      handshaking = false;
    }
  } finally {
    limit.clear();
    reader?.detach();
  }
}

/**
 * Resolves with the first bytes the client sends, or undefined when it closes without sending any. The socket is
 * left paused with those bytes consumed.
 */
function firstChunk(socket: Socket): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      socket.pause();
      socket.off('data', onData).off('end', onEnd).off('error', onError).off('close', onEnd);
    };
    const onData = (chunk: Buffer): void => { cleanup(); resolve(chunk); };
    const onEnd = (): void => { cleanup(); resolve(undefined); };
    const onError = (error: Error): void => { cleanup(); reject(new StreamClosedError('error', error)); };
    socket.on('data', onData).once('end', onEnd).once('error', onError).once('close', onEnd);
    socket.resume();
  });
}

/** Runs the server side of the client's TLS handshake; from then on the connection reads and writes through it. */
async function startTls(conn: ClientConnection, tls: LocalTls, direct: boolean): Promise<void> {
  let secure: TLSSocket;
  try {
    secure = await startServerTls(conn.raw, tls);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ECONNRESET' ? 'the client closed the connection during the TLS handshake'
      : `TLS handshake with the client failed: ${(error as Error).message.trim()}`;
    throw new ClientTlsFailure(reason);
  }
  conn.useTls(secure);
  if (direct && secure.alpnProtocol !== POSTGRESQL_ALPN) {
    // PostgreSQL 17 refuses direct TLS without ALPN, so that a TLS connection meant for another protocol never
    // reaches it by accident; this proxy does the same, but says why.
    throw new ConnectionFailure(SqlState.protocolViolation, 'direct TLS connection without the ALPN protocol "postgresql"',
      'Use a PostgreSQL 17+ client with sslnegotiation=direct, or sslnegotiation=postgres.');
  }
}
