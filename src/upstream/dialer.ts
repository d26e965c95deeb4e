import { lookup } from 'node:dns/promises';
import { isIP, Socket, type OnReadOpts } from 'node:net';
import {
  checkServerIdentity, connect as tlsConnect, createSecureContext, type ConnectionOptions, type PeerCertificate, type SecureContext,
  type TLSSocket,
} from 'node:tls';
import type { SslNegotiation } from '../config.js';
import { SqlState } from '../protocol/codes.js';
import { sslRequest } from '../protocol/messages.js';
import { ConnectionFailure, type Dialer, type UpstreamConnection } from '../proxy/ports.js';
import { ReusedBufferReader } from './chunk-reader.js';
import { silentEndpointHint, stalledHandshakeHint, tlsErrorText, tlsFailureHint } from './hints.js';

/** Everything the dialer needs to reach the endpoint and verify it. */
export interface DialerOptions {
  readonly host: string;
  readonly port: number;
  /** SNI to send; undefined sends none. */
  readonly servername: string | undefined;
  /** Names the certificate may be valid for; it must match at least one (never empty). */
  readonly certificateNames: readonly string[];
  /** TLS at once (`direct`, ALPN "postgresql") or after an SSLRequest (`postgres`). */
  readonly sslNegotiation: SslNegotiation;
  /** Trusted CAs (PEM); undefined means Node's default store. */
  readonly ca: readonly string[] | undefined;
  /** Deadline for the whole dial: resolve, TCP, SSLRequest and TLS. */
  readonly timeoutMs: number;
  /** Resolves a name to addresses; defaults to the system resolver (getaddrinfo, so /etc/hosts applies). */
  readonly resolve?: (host: string) => Promise<string[]>;
}

const KEEPALIVE_DELAY_MS = 30_000;
const SSL_ACCEPTED = 0x53; // 'S'
const SSL_REFUSED = 0x4e; // 'N'

/** ALPN protocol PostgreSQL 17 and DSQL require on a direct TLS connection (and accept after an SSLRequest). */
export const POSTGRES_ALPN = ['postgresql'];

/**
 * Creates a Dialer that connects over TCP and completes TLS 1.2+, either directly or after an
 * SSLRequest answered by exactly 'S'.
 */
export function createDialer(options: DialerOptions): Dialer {
  const resolve = options.resolve ?? defaultResolve;
  const target = `${options.host}:${options.port}`;
  const seconds = options.timeoutMs / 1000;
  const secureContext = upstreamSecureContext(options.ca);
  // The newest TLS session (ticket) from this endpoint: offered on the next connection to skip the full
  // handshake. Node verifies the certificate only on full handshakes; a session exists only after one passed.
  const sessions = { latest: undefined as Buffer | undefined };

  const handshake: Handshake = { options, secureContext, sessions, target, seconds };

  return {
    async dial(): Promise<UpstreamConnection> {
      const deadline = Date.now() + options.timeoutMs;
      const addresses = await resolveAddresses(options.host, resolve, options.timeoutMs);
      // Direct TLS skips the SSLRequest round trip: the ClientHello is the first thing sent.
      const attempt = options.sslNegotiation === 'direct' ? dialDirect : dialAfterSslRequest;
      return connectAny(addresses, options.port, deadline, target, seconds, (address, budgetMs) =>
        attempt(address, budgetMs, deadline, handshake));
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

/**
 * TCP, then TLS at once on a socket tls.connect creates itself: only such a socket can read into a reused
 * buffer (`onread`), which the relay uses to pass server data on without a per-read allocation.
 */
async function dialDirect(address: string, budgetMs: number, deadline: number, handshake: Handshake): Promise<UpstreamConnection> {
  const port = handshake.options.port;
  const reader = new ReusedBufferReader();
  // tls.connect documents `onread` (honoured when it creates the socket itself); @types/node 20 does not declare it.
  const connectOptions: ConnectionOptions & { onread: OnReadOpts } = { ...tlsOptions(handshake), host: address, port, onread: reader.onread };
  const secure = tlsConnect(connectOptions);
  reader.bind(secure);
  await tcpConnected(secure, budgetMs);
  return { socket: await completeHandshake(secure, deadline, handshake), remoteAddress: `${address}:${port}`, address, chunks: reader };
}

/** TCP, an SSLRequest answered by 'S', then TLS over that socket. */
async function dialAfterSslRequest(address: string, budgetMs: number, deadline: number, handshake: Handshake): Promise<UpstreamConnection> {
  const port = handshake.options.port;
  const socket = await connectTcp(address, port, budgetMs);
  try {
    await negotiateSsl(socket, deadline, handshake.target, handshake.seconds);
    const secure = tlsConnect({ ...tlsOptions(handshake), socket });
    return { socket: await completeHandshake(secure, deadline, handshake), remoteAddress: `${address}:${port}`, address };
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/**
 * The TLS context for upstream connections, built once: parsing a CA list (Node's ~140 roots when
 * --ca-file is given) costs tens of ms, too much to repeat per connection.
 */
export function upstreamSecureContext(ca: readonly string[] | undefined): SecureContext {
  return createSecureContext({ minVersion: 'TLSv1.2', ...(ca ? { ca: [...ca] } : {}) });
}

/** Resolves a name with the system resolver (getaddrinfo), every address in its order. */
export async function defaultResolve(host: string): Promise<string[]> {
  const results = await lookup(host, { all: true, verbatim: true });
  return results.map((r) => r.address);
}

/** The endpoint's addresses (the IP itself for an IP); a failure is a ConnectionFailure with the DNS hint. */
export async function resolveAddresses(host: string, resolve: (h: string) => Promise<string[]>, timeoutMs: number): Promise<string[]> {
  if (isIP(host)) return [host];
  const hint = `Check --endpoint: use the DNS name of the DSQL connection endpoint (aws ec2 describe-vpc-endpoints, DnsEntries), `
    + `resolvable from this host. Outside the VPC (peering, Direct Connect) resolve it through a Route 53 Resolver inbound endpoint, `
    + `or pass one of the endpoint's IP addresses with --region and --service-identifier.`;
  let timer: NodeJS.Timeout | undefined;
  try {
    const addresses = await Promise.race([
      resolve(host),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'ETIMEOUT' })), timeoutMs);
      }),
    ]);
    if (addresses.length === 0) throw Object.assign(new Error('no addresses'), { code: 'ENODATA' });
    return addresses;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ConnectionFailure(SqlState.unableToConnect, `could not resolve endpoint "${host}" (${code})`, hint, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Tries each address in turn until one connects. `attempt` rejects with a socket error (code) when TCP
 * failed, so the next address gets a turn, and with a ConnectionFailure for anything after TCP, which ends the dial.
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

/** One TCP connection with no-delay and keep-alive; rejects with the socket error or code ETIMEDOUT. */
export async function connectTcp(address: string, port: number, timeoutMs: number): Promise<Socket> {
  const socket = new Socket();
  socket.connect({ host: address, port });
  await tcpConnected(socket, timeoutMs);
  return socket;
}

/**
 * Resolves once `socket` (connecting) has connected, with no-delay and keep-alive set; otherwise destroys it
 * and rejects with the socket error or code ETIMEDOUT.
 */
function tcpConnected(socket: Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    const onError = (error: Error): void => { clearTimeout(timer); socket.destroy(); reject(error); };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
      resolve();
    });
  });
}

/** Sends SSLRequest and waits for exactly one 'S' byte; anything else is a ConnectionFailure. */
export function negotiateSsl(socket: Socket, deadline: number, target: string, seconds: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (message: string, hint: string): void => {
      cleanup();
      reject(new ConnectionFailure(SqlState.unableToConnect, message, hint));
    };
    const notDsql = 'Check that --endpoint names the Aurora DSQL connection endpoint and port 5432.';
    const onData = (chunk: Buffer): void => {
      if (chunk[0] === SSL_ACCEPTED && chunk.length === 1) { cleanup(); resolve(); return; }
      if (chunk[0] === SSL_ACCEPTED) fail(`${target} sent unencrypted data after accepting TLS`, notDsql);
      else if (chunk[0] === SSL_REFUSED) fail(`${target} refused TLS (answered N to the SSL request)`, notDsql);
      else fail(`${target} answered the SSL request with unexpected byte 0x${chunk[0]!.toString(16)}`, notDsql);
    };
    const onEnd = (): void => fail(`${target} closed the connection before answering the SSL request`, notDsql);
    const onError = (error: Error): void => fail(`${target} failed before answering the SSL request (${(error as NodeJS.ErrnoException).code ?? error.message})`, notDsql);
    const timer = setTimeout(() => fail(
      `could not connect to ${target} within ${seconds} s: TCP connected but the SSL request got no answer`,
      silentEndpointHint(target, 'postgres'),
    ), Math.max(0, deadline - Date.now()));
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData).off('end', onEnd).off('error', onError);
      socket.pause();
    };
    socket.on('data', onData).once('end', onEnd).once('error', onError);
    socket.write(sslRequest());
  });
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
    checkServerIdentity: (_host: string, cert: PeerCertificate) => checkCertificateNames(options.certificateNames, cert),
  };
}

/** Waits for `secure` to finish its handshake by the deadline; keeps the session it yields; rejects with a ConnectionFailure. */
function completeHandshake(secure: TLSSocket, deadline: number, handshake: Handshake): Promise<TLSSocket> {
  const { options, sessions, target, seconds } = handshake;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      secure.destroy();
      reject(new ConnectionFailure(SqlState.unableToConnect,
        `could not connect to ${target} within ${seconds} s: the TLS handshake did not complete`,
        stalledHandshakeHint(options.sslNegotiation)));
    }, Math.max(0, deadline - Date.now()));
    // Keep a session only from a connection whose certificate passed: with TLS 1.2 the session can
    // arrive before the verification outcome, so hold it until secureConnect.
    let verified = false;
    let pending: Buffer | undefined;
    secure.on('session', (session: Buffer) => { if (verified) sessions.latest = session; else pending = session; });
    secure.once('secureConnect', () => {
      verified = true;
      if (pending) sessions.latest = pending;
      clearTimeout(timer);
      secure.removeAllListeners('error');
      resolve(secure);
    });
    secure.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      secure.destroy();
      reject(new ConnectionFailure(SqlState.unableToConnect, `TLS with ${target} failed: ${tlsErrorText(error)}`,
        tlsFailureHint(options.certificateNames, options.sslNegotiation, error), { cause: error }));
    });
  });
}

/**
 * Undefined when `cert` is valid for one of `names`; otherwise an error that names the certificate's names and the
 * expected ones, so a server with some other publicly trusted certificate is never sent a token.
 */
export function checkCertificateNames(names: readonly string[], cert: PeerCertificate): Error | undefined {
  let first: Error | undefined;
  for (const name of names) {
    const error = checkServerIdentity(name, cert);
    if (!error) return undefined;
    first ??= error;
  }
  const carried = certificateNamesOf(cert);
  return Object.assign(new Error(`the certificate is valid for ${carried.length ? carried.join(', ') : '(no names)'}, `
    + `not for ${names.join(' or ')}`), { code: (first as NodeJS.ErrnoException | undefined)?.code ?? 'ERR_TLS_CERT_ALTNAME_INVALID' });
}

/** The DNS names (subjectAltName, else the subject CN) a certificate carries. */
export function certificateNamesOf(cert: PeerCertificate): string[] {
  const alt = (cert.subjectaltname ?? '').split(/,\s*/).filter((e) => e.startsWith('DNS:')).map((e) => e.slice(4));
  if (alt.length > 0) return alt;
  const cn = cert.subject?.CN;
  return cn ? [Array.isArray(cn) ? cn.join(', ') : cn] : [];
}
