import { setTimeout as sleep } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import { MessageType, SqlState } from '../protocol/codes.js';
import { ProtocolError } from '../protocol/errors.js';
import {
  authenticationSasl, authenticationSaslContinue, authenticationSaslFinal, parseSaslInitialResponse, parseSaslResponse,
} from '../protocol/sasl.js';
import { isLoopbackClient, type AccessPolicy, type AuthMethod } from '../client/policy.js';
import { ScramProtocolError, ScramServerExchange, type ScramVerifier } from '../client/scram.js';
import { clientCertificateOf } from '../client/tls.js';
import { abortable, deadline, DeadlineExceeded } from './abort.js';
import { ClientGone, type ClientConnection } from './connection.js';
import { FrameStream } from './frame-stream.js';
import { ConnectionFailure } from './ports.js';

/** What the client login needs besides the policy. */
export interface ClientLoginOptions {
  /** The client-facing startup timeout, as configured (named in the refusal). */
  readonly timeoutMs: number;
  /** What is left of it since the client connected: the opening and the login share one deadline. */
  readonly remainingMs?: number;
  /** Pause before a failed password is answered, so guessing costs the guesser time. */
  readonly failureDelayMs: number;
  /** Per-process secret behind the mock salts of unknown roles. */
  readonly mockSecret: Buffer;
  /** Told how the client proved who it is, before the role is judged (so a refused role's audit line says it). */
  readonly onAuthenticated?: (method: AuthMethod) => void;
}

/** A client the proxy has let in. */
export interface AdmittedClient {
  readonly method: AuthMethod;
  /** Bytes the client sent after its last authentication message (handed to the relay). */
  readonly remainder: Buffer;
}

/** Terminate ('X'): the client gave up on the login (psql does so when it has no password to give). */
const TERMINATE = 0x58;
const SCRAM_HINT = 'Connect with a client that speaks SCRAM-SHA-256 (libpq 10+, pgJDBC 42.2+, node-postgres 8+) and give it the password.';

/** SCRAM messages are a few hundred bytes; anything near this is not a login. */
const MAX_SASL_MESSAGE = 16 * 1024;

/**
 * Decides whether the client may go on, before anything is dialed: its address, TLS, its certificate, its password
 * (SCRAM-SHA-256, with channel binding over TLS), then its role. Rejects with a ConnectionFailure the session sends as
 * FATAL; a wrong password, an unknown role and a malformed exchange all read "password authentication failed", after
 * the same delay, so neither timing nor text tells which roles exist.
 */
export async function admitClient(conn: ClientConnection, role: string, policy: AccessPolicy, options: ClientLoginOptions,
  early: Buffer): Promise<AdmittedClient> {
  const address = conn.raw.remoteAddress;
  if (!policy.addressAllowed(address)) {
    throw new ConnectionFailure(SqlState.invalidAuthorization, `client address ${address ?? ''} is not in --allow-cidr`,
      'Connect from an allowed network, or add its block to the proxy\'s --allow-cidr.');
  }
  let certified = false;
  // libpq never uses TLS over a unix socket; like PostgreSQL's hostssl, which does not cover `local`, the TLS and
  // certificate rules bind TCP clients only (the socket's file mode governs local ones; config makes sure a password
  // then still applies).
  const local = address === undefined;
  if (!local && (policy.requireClientCertificate || policy.requireTls)) {
    if (!conn.encrypted) {
      throw new ConnectionFailure(SqlState.invalidAuthorization,
        policy.requireClientCertificate ? 'connection requires a valid client certificate, over TLS' : 'this proxy accepts only TLS connections (--require-tls)',
        'Connect with sslmode=require or stronger (verify-full with the proxy\'s CA as sslrootcert).');
    }
  }
  if (!local && policy.requireClientCertificate) {
    checkCertificate(conn.client as TLSSocket, role);
    certified = true;
  }
  let method: AuthMethod = certified ? 'cert' : isLoopbackClient(address) ? 'trust-loopback' : 'trust';
  let remainder = early;
  const passwords = policy.passwords;
  if (passwords) {
    const scram = await exchangePassword(conn, role, policy, passwords, options, early);
    method = certified ? (scram.method === 'scram' ? 'cert+scram' : 'cert+scram-plus') : scram.method;
    remainder = scram.remainder;
  }
  options.onAuthenticated?.(method);
  if (!policy.roleAllowed(role)) {
    throw new ConnectionFailure(SqlState.invalidAuthorization,
      `role "${role}" may not connect through this proxy (--allow-roles)`,
      'Connect as one of the allowed roles, or ask the proxy\'s operator to add this one.');
  }
  return { method, remainder };
}

function checkCertificate(socket: TLSSocket, role: string): void {
  const certificate = clientCertificateOf(socket);
  const hint = 'Give the client a certificate (sslcert, sslkey) issued by the CA in the proxy\'s --tls-client-ca, with CN = the role.';
  if (!certificate.presented) throw new ConnectionFailure(SqlState.invalidAuthorization, 'connection requires a valid client certificate', hint);
  if (!certificate.valid) {
    throw new ConnectionFailure(SqlState.invalidAuthorization, `the client certificate is not valid: ${certificate.problem ?? 'unknown reason'}`, hint);
  }
  if (certificate.commonName !== role) {
    throw new ConnectionFailure(SqlState.invalidAuthorization,
      `certificate authentication failed for user "${role}": the certificate's CN is "${certificate.commonName ?? ''}"`,
      'Connect as the role named in the certificate\'s CN, or use a certificate issued to this role.');
  }
}

async function exchangePassword(conn: ClientConnection, role: string, policy: AccessPolicy, passwords: ReadonlyMap<string, ScramVerifier>,
  options: ClientLoginOptions, early: Buffer): Promise<{ method: 'scram' | 'scram-plus'; remainder: Buffer }> {
  const limit = deadline(conn.signal, options.remainingMs ?? options.timeoutMs);
  const reader = new FrameStream(conn.client, 'typed', MAX_SASL_MESSAGE, early);
  const next = async (): Promise<Buffer> => {
    const frame = await abortable(reader.next(), limit.signal);
    // A client that leaves mid-exchange has proved nothing and been told nothing: no failed login, no pause.
    if (frame[0] === TERMINATE) throw new ClientGone();
    if (frame[0] !== MessageType.passwordMessage) throw new ProtocolError(`expected a SASL response, got message type 0x${frame[0]!.toString(16)}`);
    return frame;
  };
  const exchange = new ScramServerExchange({
    user: role, verifier: passwords.get(role), mockSecret: options.mockSecret, mockIterations: policy.mockIterations(passwords),
    channelBinding: conn.encrypted ? policy.tls?.channelBinding : undefined,
  });
  let outcome: { method: 'scram' | 'scram-plus'; remainder: Buffer } | undefined;
  let malformed: ScramProtocolError | ProtocolError | undefined;
  try {
    conn.client.write(authenticationSasl(exchange.mechanisms()));
    const initial = parseSaslInitialResponse(await next());
    conn.client.write(authenticationSaslContinue(exchange.serverFirst(initial.mechanism, initial.data)));
    const result = exchange.clientFinal(parseSaslResponse(await next()));
    if (result.ok) {
      conn.client.write(authenticationSaslFinal(result.serverFinal));
      outcome = { method: result.method, remainder: reader.detach() };
    }
  } catch (error) {
    if (error instanceof DeadlineExceeded) {
      throw new ConnectionFailure(SqlState.protocolViolation, `the client did not complete authentication within ${options.timeoutMs / 1000} s`,
        SCRAM_HINT);
    }
    if (!(error instanceof ScramProtocolError || error instanceof ProtocolError)) throw error;
    malformed = error; // the same checks run for unknown roles (a mock exchange), so its text tells nothing about them
  } finally {
    limit.clear();
    reader.detach();
  }
  if (outcome) return outcome;
  try {
    await sleep(options.failureDelayMs, undefined, { signal: conn.signal });
  } catch {
    throw conn.signal.reason as Error;
  }
  if (malformed) throw new ConnectionFailure(malformed.sqlstate, malformed.message, SCRAM_HINT);
  throw new ConnectionFailure(SqlState.invalidPassword, `password authentication failed for user "${role}"`,
    'Check the password, or ask the proxy\'s operator for an entry in its --auth-file.');
}
