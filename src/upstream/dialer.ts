import type { OnReadOpts, Socket } from 'node:net';
import {
  connect as tlsConnect, createSecureContext, type ConnectionOptions, type PeerCertificate, type SecureContext, type TLSSocket,
} from 'node:tls';
import type { SslNegotiation } from '../config.js';
import { SqlState } from '../protocol/codes.js';
import { ConnectionFailure, type Dialer, type DialOptions, type UpstreamConnection } from '../proxy/ports.js';
import { checkCertificateNames } from './certificate.js';
import { ReusedBufferReader } from './chunk-reader.js';
import { missingAlpnHint, stalledHandshakeHint, tlsErrorText, tlsFailureHint } from './hints.js';
import { abortFailure, connectTcp, defaultResolve, dialStep, negotiateSsl, resolveAddresses, tcpConnected } from './steps.js';

/** The certificate name check, importable from here as before. */
export { certificateNamesOf, checkCertificateNames } from './certificate.js';
/** The single dial steps, importable from here as before. */
export { connectTcp, defaultResolve, negotiateSsl, resolveAddresses } from './steps.js';

/** Everything the dialer needs to reach the endpoint and verify it. */
export interface DialerOptions {
  readonly host: string;
  readonly port: number;
  /** SNI to send; undefined sends none. */
  readonly servername: string | undefined;
  /** Names the certificate may be valid for; it must match at least one (never empty). */
  readonly certificateNames: readonly string[];
  /** TLS at once (`direct`, ALPN "postgresql" required) or after an SSLRequest (`postgres`, ALPN optional). */
  readonly sslNegotiation: SslNegotiation;
  /** Trusted CAs (PEM); undefined means Node's default store. */
  readonly ca: readonly string[] | undefined;
  /** Deadline for the whole dial: resolve, TCP, SSLRequest and TLS. */
  readonly timeoutMs: number;
  /** Resolves a name to addresses; defaults to the system resolver (getaddrinfo, so /etc/hosts applies). */
  readonly resolve?: (host: string) => Promise<string[]>;
}

/** ALPN protocol PostgreSQL 17 and DSQL require on a direct TLS connection (and accept after an SSLRequest). */
export const POSTGRES_ALPN = ['postgresql'];

/**
 * Creates a Dialer that connects over TCP and completes TLS 1.2+, either directly or after an
 * SSLRequest answered by exactly 'S'. The certificate must chain to a trusted CA and be valid for one of
 * `certificateNames` before anything else is sent.
 */
export function createDialer(options: DialerOptions): Dialer {
  if (options.certificateNames.length === 0) throw new TypeError('a dialer needs at least one certificate name to verify');
  const resolve = options.resolve ?? defaultResolve;
  const target = `${options.host}:${options.port}`;
  const seconds = options.timeoutMs / 1000;
  const secureContext = upstreamSecureContext(options.ca);
  // The newest TLS session (ticket) from this endpoint: offered on the next connection to skip the full
  // handshake. Node verifies the certificate only on full handshakes; a session exists only after one passed.
  const sessions = { latest: undefined as Buffer | undefined };

  const handshake: Handshake = { options, secureContext, sessions, target, seconds };

  return {
    async dial({ address, signal }: DialOptions = {}): Promise<UpstreamConnection> {
      if (signal?.aborted) throw abortFailure(signal, target);
      const deadline = Date.now() + options.timeoutMs;
      try {
        // A pinned address (a cancel going where its session went) skips resolution, not verification.
        const addresses = address !== undefined ? [address]
          : await resolveAddresses(options.host, resolve, options.timeoutMs, signal);
        // Direct TLS skips the SSLRequest round trip: the ClientHello is the first thing sent.
        const attempt = options.sslNegotiation === 'direct' ? dialDirect : dialAfterSslRequest;
        return await connectAny(addresses, options.port, deadline, target, seconds, (next, budgetMs) =>
          attempt(next, budgetMs, deadline, handshake, signal));
      } catch (error) {
        // Whatever step the abort interrupted, the caller hears about the abort, naming the endpoint.
        throw signal?.aborted ? abortFailure(signal, target) : error;
      }
    },
  };
}

/** What completing a TLS handshake with the endpoint needs, fixed per dialer. */
interface Handshake {
  readonly options: DialerOptions;
  readonly secureContext: SecureContext;
  /** The newest verified session, replaced as connections receive new ones. */
  readonly sessions: { latest: Buffer | undefined };
  readonly target: string;
  readonly seconds: number;
}

/** One address's attempt: every socket it opened is destroyed when it fails (or is aborted). */
type Attempt = (address: string, budgetMs: number, deadline: number, handshake: Handshake, signal: AbortSignal | undefined)
  => Promise<UpstreamConnection>;

/**
 * TCP, then TLS at once on a socket tls.connect creates itself: only such a socket can read into a reused
 * buffer (`onread`), which the relay uses to pass server data on without a per-read allocation.
 */
const dialDirect: Attempt = async (address, budgetMs, deadline, handshake, signal) => {
  const port = handshake.options.port;
  const reader = new ReusedBufferReader();
  // tls.connect documents `onread` (honoured when it creates the socket itself); @types/node 20 does not declare it.
  const connectOptions: ConnectionOptions & { onread: OnReadOpts } = { ...tlsOptions(handshake), host: address, port, onread: reader.onread };
  const secure = tlsConnect(connectOptions);
  reader.bind(secure);
  try {
    await tcpConnected(secure, `${address}:${port}`, budgetMs, signal);
    const socket = await completeHandshake(secure, deadline, handshake, signal);
    return { socket, remoteAddress: `${address}:${port}`, address, chunks: reader };
  } catch (error) {
    secure.destroy();
    throw error;
  }
};

/** TCP, an SSLRequest answered by 'S', then TLS over that socket. */
const dialAfterSslRequest: Attempt = async (address, budgetMs, deadline, handshake, signal) => {
  const port = handshake.options.port;
  const socket: Socket = await connectTcp(address, port, budgetMs, signal);
  let secure: TLSSocket | undefined;
  try {
    await negotiateSsl(socket, deadline, handshake.target, handshake.seconds, signal);
    secure = tlsConnect({ ...tlsOptions(handshake), socket });
    return { socket: await completeHandshake(secure, deadline, handshake, signal), remoteAddress: `${address}:${port}`, address };
  } catch (error) {
    secure?.destroy();
    socket.destroy();
    throw error;
  }
};

/**
 * The TLS context for upstream connections, built once: parsing a CA list (Node's ~140 roots when
 * --ca-file is given) costs tens of ms, too much to repeat per connection.
 */
export function upstreamSecureContext(ca: readonly string[] | undefined): SecureContext {
  return createSecureContext({ minVersion: 'TLSv1.2', ...(ca ? { ca: [...ca] } : {}) });
}

/**
 * Tries each address in turn until one connects. `attempt` rejects with a socket error (code) when TCP
 * failed, so the next address gets a turn, and with a ConnectionFailure for anything after TCP (or an abort),
 * which ends the dial.
 */
async function connectAny<T>(addresses: string[], port: number, deadline: number, target: string, seconds: number,
  attempt: (address: string, budgetMs: number) => Promise<T>): Promise<T> {
  const failures: string[] = [];
  let allTimedOut = true;
  for (let i = 0; i < addresses.length; i++) {
    const address = addresses[i]!;
    // Share what time is left among the addresses not yet tried, so each gets a turn.
    const budget = Math.max(0, deadline - Date.now()) / (addresses.length - i);
    try {
      return await attempt(address, budget);
    } catch (error) {
      if (error instanceof ConnectionFailure) throw error;
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      if (code !== 'ETIMEDOUT') allTimedOut = false;
      failures.push(`${address}: ${code === 'ETIMEDOUT' ? 'timed out' : code}`);
    }
  }
  const detail = `tried ${failures.join(', ')}`;
  if (allTimedOut) {
    throw new ConnectionFailure(SqlState.unableToConnect,
      `could not connect to ${target} within ${seconds} s (${detail})`,
      `Check that the endpoint's security group allows inbound TCP ${port} from this host, that the route and network ACLs `
      + `between this host and the VPC allow it, and that the endpoint is in state "available".`);
  }
  throw new ConnectionFailure(SqlState.unableToConnect,
    `could not connect to ${target} (${detail})`,
    `Nothing accepted the connection: check the address and port in --endpoint (DSQL listens on 5432) `
    + `and that it names the DSQL connection endpoint.`);
}

/** tls.connect options shared by both negotiations: SNI, the prepared context, ALPN, the last session, the name check. */
function tlsOptions(handshake: Handshake): ConnectionOptions {
  const { options, secureContext, sessions } = handshake;
  return {
    servername: options.servername,
    secureContext,
    rejectUnauthorized: true,
    ALPNProtocols: POSTGRES_ALPN,
    ...(sessions.latest ? { session: sessions.latest } : {}),
    // Runs on every full handshake, before 'secureConnect': a certificate for other names never sees a byte of ours.
    checkServerIdentity: (_host: string, cert: PeerCertificate) => checkCertificateNames(options.certificateNames, cert),
  };
}

/**
 * Waits for `secure` to finish its handshake by the deadline, then requires ALPN "postgresql" under direct TLS
 * (checked on resumed handshakes too, which skip the certificate check); keeps the session only from a connection
 * that passed both. Rejects with a ConnectionFailure; destroying `secure` is the caller's part.
 */
function completeHandshake(secure: TLSSocket, deadline: number, handshake: Handshake, signal: AbortSignal | undefined): Promise<TLSSocket> {
  const { options, sessions, target, seconds } = handshake;
  // With TLS 1.2 the session can arrive before the verification outcome, and TLS 1.3 tickets after it:
  // hold one until the connection passed, keep later ones for the connection's lifetime.
  let verified = false;
  let pending: Buffer | undefined;
  secure.on('session', (session: Buffer) => { if (verified) sessions.latest = session; else pending = session; });
  return dialStep<TLSSocket>(signal, target, deadline - Date.now(),
    () => new ConnectionFailure(SqlState.unableToConnect, `could not connect to ${target} within ${seconds} s: the TLS handshake did not complete`,
      stalledHandshakeHint(options.sslNegotiation)),
    (done, fail) => {
      const onSecure = (): void => {
        // libpq 17 refuses a direct connection without it: whatever answered is not a PostgreSQL-speaking server.
        if (options.sslNegotiation === 'direct' && secure.alpnProtocol !== POSTGRES_ALPN[0]) {
          fail(new ConnectionFailure(SqlState.unableToConnect,
            `TLS with ${target} failed: the server did not negotiate ALPN protocol "${POSTGRES_ALPN[0]}", which direct TLS requires`,
            missingAlpnHint()));
          return;
        }
        verified = true;
        if (pending) sessions.latest = pending;
        done(secure);
      };
      const onError = (error: NodeJS.ErrnoException): void => fail(new ConnectionFailure(SqlState.unableToConnect,
        `TLS with ${target} failed: ${tlsErrorText(error)}`,
        tlsFailureHint(options.certificateNames, options.sslNegotiation, error), { cause: error }));
      secure.once('secureConnect', onSecure).once('error', onError);
      return () => secure.off('secureConnect', onSecure).off('error', onError);
    });
}
