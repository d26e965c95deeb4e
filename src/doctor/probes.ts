import { connect as tlsConnect, type PeerCertificate, type SecureContext } from 'node:tls';
import { MessageType, SqlState } from '../protocol/codes.js';
import { parseErrorResponse } from '../protocol/messages.js';
import type { StartupParameter } from '../protocol/startup.js';
import { MessageWriter } from '../protocol/writer.js';
import { authenticateUpstream, ServerRejection } from '../proxy/authenticate.js';
import { FrameStream } from '../proxy/frame-stream.js';
import { ConnectionFailure, type Dialer, type TokenProvider } from '../proxy/ports.js';
import type { SslNegotiation } from '../config.js';
import { connectTcp, negotiateSsl, POSTGRES_ALPN } from '../upstream/dialer.js';
import { silentEndpointHint, tlsErrorText, tlsFailureHint } from '../upstream/hints.js';

/** What one TLS handshake with the endpoint showed, verification done by hand so both routes can be judged. */
export interface TlsInspection {
  readonly protocol: string;
  readonly handshakeMs: number;
  /** Chain verification result: undefined when the chain is trusted. */
  readonly chainError: string | undefined;
  /** The certificate as presented, for judging it against each route's names. */
  readonly certificate: PeerCertificate;
}

/** Connects, starts TLS as `negotiation` says and completes a handshake with `servername` without rejecting, to report. */
export async function inspectTls(
  address: string, port: number, servername: string | undefined,
  secureContext: SecureContext, timeoutMs: number, negotiation: SslNegotiation,
): Promise<TlsInspection> {
  const deadline = Date.now() + timeoutMs;
  const target = `${address}:${port}`;
  const socket = await connectTcp(address, port, timeoutMs);
  try {
    if (negotiation === 'postgres') await negotiateSsl(socket, deadline, target, timeoutMs / 1000);
    const started = performance.now();
    return await new Promise<TlsInspection>((resolve, reject) => {
      // Node folds its own hostname check into `authorized`; turning it off here keeps `authorized` about the
      // chain alone, and the caller judges the names for each route.
      const secure = tlsConnect({
        socket, servername, secureContext, ALPNProtocols: POSTGRES_ALPN, rejectUnauthorized: false, checkServerIdentity: () => undefined,
      });
      const timer = setTimeout(() => {
        secure.destroy();
        reject(new ConnectionFailure(SqlState.unableToConnect, `TLS handshake did not complete within ${timeoutMs / 1000} s`,
          silentEndpointHint(target, negotiation)));
      }, Math.max(0, deadline - Date.now()));
      secure.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        secure.destroy();
        // Verification is off here, so a failure is the handshake itself: say it readably, with the fallback under direct TLS.
        reject(new ConnectionFailure(SqlState.unableToConnect, `TLS with ${target} failed: ${tlsErrorText(error)}`,
          negotiation === 'direct' ? tlsFailureHint([], negotiation, error) : undefined));
      });
      secure.once('secureConnect', () => {
        clearTimeout(timer);
        resolve({
          protocol: secure.getProtocol() ?? 'TLS',
          handshakeMs: performance.now() - started,
          chainError: secure.authorized ? undefined : String(secure.authorizationError),
          certificate: secure.getPeerCertificate(),
        });
        secure.destroy();
      });
    });
  } finally {
    socket.destroy();
  }
}

/** A completed login probe. */
export interface LoginProbe {
  readonly loginMs: number;
  readonly queryMs: number;
  readonly result: string;
}

/** Dials through the real dialer, logs in with a fresh token like a session would, runs `select 1` and terminates. */
export async function probeLogin(
  dialer: Dialer, tokens: TokenProvider, parameters: readonly StartupParameter[], user: string, timeoutMs: number,
): Promise<LoginProbe> {
  const started = performance.now();
  const token = await tokens.token(user); // signed before dialing, as a session does
  const upstream = await dialer.dial();
  const server = upstream.socket;
  server.on('error', () => undefined);
  try {
    const login = await authenticateUpstream(server, { parameters, token, timeoutMs });
    const reader = new FrameStream(server, 'typed', undefined, login.remainder);
    const timer = setTimeout(() => reader.abort(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    try {
      const loginMs = performance.now() - started;
      const queryStarted = performance.now();
      server.write(new MessageWriter(QUERY).cstring('select 1').finish());
      const frames = await readUntilReady(reader);
      const queryMs = performance.now() - queryStarted;
      const error = frames.find((f) => f[0] === MessageType.errorResponse);
      if (error) throw new Error(parseErrorResponse(error).message);
      const row = frames.find((f) => f[0] === DATA_ROW);
      server.end(new MessageWriter(TERMINATE).finish());
      // DataRow: type, length, column count (2), value length (4), value.
      return { loginMs, queryMs, result: row ? row.subarray(11).toString() : '' };
    } finally {
      clearTimeout(timer);
      reader.detach();
    }
  } finally {
    server.destroy();
  }
}

const QUERY = 0x51; // 'Q'
const TERMINATE = 0x58; // 'X'
const DATA_ROW = 0x44; // 'D'
const READY_FOR_QUERY = 0x5a; // 'Z'

async function readUntilReady(reader: FrameStream): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  for (;;) {
    const frame = await reader.next();
    frames.push(frame);
    if (frame[0] === READY_FOR_QUERY) return frames;
    // PostgreSQL checks the database after AuthenticationOk: its FATAL is the server's answer to the login, kept whole for the remedy.
    if (frame[0] === MessageType.errorResponse && frames.length === 1 && parseErrorResponse(frame).severity === 'FATAL') {
      throw new ServerRejection(frame, parseErrorResponse(frame));
    }
  }
}
