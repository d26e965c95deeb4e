/**
 * SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, server side (RFC 5802, RFC 7677, RFC 5929 channel binding), as PostgreSQL's
 * src/backend/libpq/auth-scram.c speaks it to libpq. Pure: node:crypto only, no sockets, no files.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { SqlState } from '../protocol/codes.js';
import { saslprepBytes } from './saslprep.js';

/** The mechanism without channel binding. */
export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
/** The mechanism with tls-server-end-point channel binding. */
export const SCRAM_SHA_256_PLUS = 'SCRAM-SHA-256-PLUS';
/** PostgreSQL's default `scram_iterations`. */
export const SCRAM_DEFAULT_ITERATIONS = 4096;

const SALT_LENGTH = 16; // PostgreSQL's SCRAM_DEFAULT_SALT_LEN
const RAW_NONCE_LENGTH = 18; // PostgreSQL's SCRAM_RAW_NONCE_LEN
const KEY_LENGTH = 32; // SHA-256 output
const MAX_ITERATIONS = 2 ** 31 - 1; // PostgreSQL keeps the count in an int
const FEATURE_NOT_SUPPORTED = '0A000';
const CHANNEL_BINDING_TYPE = 'tls-server-end-point';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// RFC 5802 §7: printable = %x21-2B / %x2D-7E (printable ASCII except ",").
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;
const ATTRIBUTE = /^[A-Za-z]=/;

/** A role's SCRAM-SHA-256 secret as PostgreSQL stores it in pg_authid.rolpassword. */
export interface ScramVerifier {
  readonly iterations: number;
  readonly salt: Buffer;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

/** A malformed or unacceptable SCRAM message; the message is safe to show the client and holds no secret. */
export class ScramProtocolError extends Error {
  /** SQLSTATE for the FATAL ErrorResponse (as PostgreSQL reports the same failure). */
  readonly sqlstate: string;

  constructor(message: string, sqlstate: string = SqlState.protocolViolation) {
    super(message);
    this.name = 'ScramProtocolError';
    this.sqlstate = sqlstate;
  }
}

const decodeBase64 = (text: string): Buffer | undefined => (BASE64.test(text) ? Buffer.from(text, 'base64') : undefined);
const hmac = (key: Buffer, data: Buffer | string): Buffer => createHmac('sha256', key).update(data).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();
const isIterationCount = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= MAX_ITERATIONS;

/** Parses `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`; the error message never quotes the input. */
export function parseScramVerifier(text: string): ScramVerifier {
  if (!text.startsWith(`${SCRAM_SHA_256}$`)) throw new Error('not a SCRAM-SHA-256 verifier');
  // Split as PostgreSQL's parse_scram_secret does: base64 holds neither "$" nor ":".
  const match = /^SCRAM-SHA-256\$([^:$]*):([^$]*)\$([^:]*):(.*)$/s.exec(text);
  if (!match) throw new Error('not of the form SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>');
  const [, iterationText, saltText, storedText, serverText] = match as unknown as [string, string, string, string, string];
  const iterations = /^[0-9]{1,10}$/.test(iterationText) ? Number(iterationText) : NaN;
  if (!isIterationCount(iterations)) throw new Error('iteration count is not a positive integer');
  const salt = decodeBase64(saltText);
  if (!salt || salt.length === 0) throw new Error('salt is not base64');
  const storedKey = decodeBase64(storedText);
  if (storedKey?.length !== KEY_LENGTH) throw new Error(`StoredKey is not ${KEY_LENGTH} bytes of base64`);
  const serverKey = decodeBase64(serverText);
  if (serverKey?.length !== KEY_LENGTH) throw new Error(`ServerKey is not ${KEY_LENGTH} bytes of base64`);
  return { iterations, salt, storedKey, serverKey };
}

/**
 * Makes the verifier PostgreSQL would store for `password` (SASLprep'd as PostgreSQL does; a Buffer that is not
 * UTF-8 is hashed as it is). Defaults: 4096 iterations, 16 random salt bytes.
 */
export function makeScramVerifier(password: string | Buffer, options: { iterations?: number; salt?: Buffer } = {}): string {
  const iterations = options.iterations ?? SCRAM_DEFAULT_ITERATIONS;
  if (!isIterationCount(iterations)) throw new RangeError(`iterations must be an integer from 1 to ${MAX_ITERATIONS}`);
  const salt = options.salt ?? randomBytes(SALT_LENGTH);
  if (salt.length === 0) throw new RangeError('the salt must not be empty');
  // RFC 5802 §3: SaltedPassword = Hi(Normalize(password), salt, i), and Hi is PBKDF2 with HMAC-SHA-256.
  const salted = pbkdf2Sync(saslprepBytes(password), salt, iterations, KEY_LENGTH, 'sha256');
  const storedKey = sha256(hmac(salted, 'Client Key'));
  const serverKey = hmac(salted, 'Server Key');
  return `${SCRAM_SHA_256}$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** What the caller gives one exchange. */
export interface ScramServerOptions {
  /** The startup packet's user (the n= name of client-first is ignored, as PostgreSQL does). */
  user: string;
  /** The role's verifier; undefined runs a mock exchange that fails at the proof, like a wrong password. */
  verifier: ScramVerifier | undefined;
  /** Per-process random secret the mock salt is derived from. */
  mockSecret: Buffer;
  /** Iteration count a mock exchange announces (default 4096): the one the real roles use, so i= tells nothing. */
  mockIterations?: number;
  /** tls-server-end-point data (RFC 5929) when the client is on TLS and it is known; enables the PLUS mechanism. */
  channelBinding: Buffer | undefined;
  /** Server nonce source (tests); default 18 random bytes in base64. */
  nonce?: () => string;
}

/** Outcome of the client's final message. */
export type ScramFinalResult =
  | { readonly ok: true; readonly serverFinal: string; readonly method: 'scram' | 'scram-plus' }
  | { readonly ok: false };

interface FirstExchange {
  readonly plus: boolean;
  readonly gs2Header: string;
  readonly clientFirstBare: string;
  readonly nonce: string;
  readonly serverFirst: string;
}

/** One server-side SCRAM exchange: serverFirst once, then clientFinal once. */
export class ScramServerExchange {
  private readonly keys: ScramVerifier;
  private readonly doomed: boolean;
  private readonly channelBinding: Buffer | undefined;
  private readonly makeNonce: () => string;
  private state: 'start' | 'first-sent' | 'done' = 'start';
  private first: FirstExchange | undefined;

  constructor(options: ScramServerOptions) {
    this.channelBinding = options.channelBinding?.length ? options.channelBinding : undefined;
    this.makeNonce = options.nonce ?? (() => randomBytes(RAW_NONCE_LENGTH).toString('base64'));
    this.doomed = options.verifier === undefined;
    // Like PostgreSQL's scram_mock_salt: a salt that is stable per user name, so probing it twice reveals nothing.
    this.keys = options.verifier ?? {
      iterations: options.mockIterations ?? SCRAM_DEFAULT_ITERATIONS,
      salt: hmac(options.mockSecret, Buffer.from(options.user, 'utf8')).subarray(0, SALT_LENGTH),
      storedKey: Buffer.alloc(KEY_LENGTH),
      serverKey: Buffer.alloc(KEY_LENGTH),
    };
  }

  /** The mechanisms to offer in AuthenticationSASL, preferred first. */
  mechanisms(): string[] {
    return this.channelBinding ? [SCRAM_SHA_256_PLUS, SCRAM_SHA_256] : [SCRAM_SHA_256];
  }

  /** Reads client-first-message (RFC 5802 §7) and returns server-first-message; throws ScramProtocolError. */
  serverFirst(mechanism: string, clientFirst: Buffer): string {
    if (this.state !== 'start') throw new Error('SCRAM exchange used out of order');
    this.state = 'done';
    const plus = mechanism === SCRAM_SHA_256_PLUS && this.channelBinding !== undefined;
    if (!plus && mechanism !== SCRAM_SHA_256) throw new ScramProtocolError('client selected an invalid SASL authentication mechanism');
    const text = messageText(clientFirst);
    const gs2Length = this.readGs2Header(text, plus);
    const gs2Header = text.slice(0, gs2Length);
    const clientFirstBare = text.slice(gs2Length);
    // RFC 5802 §5.1 "m": reserved for mandatory extensions, none of which we know.
    if (clientFirstBare.startsWith('m')) throw new ScramProtocolError('client requires an unsupported SCRAM extension', FEATURE_NOT_SUPPORTED);
    const [user, nonceAttribute, ...extensions] = clientFirstBare.split(',');
    if (!user?.startsWith('n=')) throw malformed('expected the user name attribute "n"');
    if (!nonceAttribute?.startsWith('r=')) throw malformed('expected the nonce attribute "r"');
    const clientNonce = nonceAttribute.slice(2);
    if (!PRINTABLE.test(clientNonce)) throw new ScramProtocolError('non-printable characters in SCRAM nonce');
    if (!extensions.every((e) => ATTRIBUTE.test(e))) throw malformed('invalid attribute in client-first-message');
    const nonce = clientNonce + this.makeNonce();
    const serverFirst = `r=${nonce},s=${this.keys.salt.toString('base64')},i=${this.keys.iterations}`;
    this.first = { plus, gs2Header, clientFirstBare, nonce, serverFirst };
    this.state = 'first-sent';
    return serverFirst;
  }

  /** Checks client-final-message; ok:false for a wrong proof (always for a mock exchange); throws ScramProtocolError. */
  clientFinal(clientFinal: Buffer): ScramFinalResult {
    const first = this.first;
    if (this.state !== 'first-sent' || !first) throw new Error('SCRAM exchange used out of order');
    this.state = 'done';
    const parts = messageText(clientFinal).split(',');
    const binding = parts[0]?.startsWith('c=') ? parts[0].slice(2) : undefined;
    if (binding === undefined) throw malformed('expected the channel binding attribute "c"');
    // RFC 5802 §7: c= is base64(gs2-header [cbind-data]), cbind-data present exactly when the flag is "p".
    const cbindInput = Buffer.concat([Buffer.from(first.gs2Header, 'latin1'), first.plus ? this.channelBinding! : Buffer.alloc(0)]);
    if (binding !== cbindInput.toString('base64')) {
      throw first.plus
        ? new ScramProtocolError('SCRAM channel binding check failed', SqlState.invalidAuthorization)
        : new ScramProtocolError('unexpected SCRAM channel-binding attribute in client-final-message');
    }
    if (!parts[1]?.startsWith('r=')) throw malformed('expected the nonce attribute "r"');
    if (parts[1].slice(2) !== first.nonce) throw new ScramProtocolError('invalid SCRAM response: the nonce does not match');
    const proofIndex = parts.findIndex((part, i) => i >= 2 && part.startsWith('p='));
    if (proofIndex < 0) throw malformed('the proof attribute "p" is missing from client-final-message');
    if (proofIndex !== parts.length - 1) throw malformed('garbage found at the end of client-final-message');
    if (!parts.slice(2, proofIndex).every((e) => ATTRIBUTE.test(e))) throw malformed('invalid attribute in client-final-message');
    const proof = decodeBase64(parts[proofIndex]!.slice(2));
    if (proof?.length !== KEY_LENGTH) throw malformed('malformed proof in client-final-message');
    const withoutProof = parts.slice(0, proofIndex).join(',');
    const authMessage = Buffer.from(`${first.clientFirstBare},${first.serverFirst},${withoutProof}`, 'latin1');
    // RFC 5802 §3: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); StoredKey must equal H(ClientKey).
    // Computed for a mock exchange too, so an unknown role costs the same time as a wrong password.
    const signature = hmac(this.keys.storedKey, authMessage);
    const clientKey = Buffer.from(proof.map((byte, i) => byte ^ signature[i]!));
    const proofMatches = timingSafeEqual(sha256(clientKey), this.keys.storedKey);
    if (!proofMatches || this.doomed) return { ok: false };
    const serverSignature = hmac(this.keys.serverKey, authMessage);
    return { ok: true, serverFinal: `v=${serverSignature.toString('base64')}`, method: first.plus ? 'scram-plus' : 'scram' };
  }

  /** Checks the GS2 header (RFC 5802 §7, §6) and returns its length including the second comma. */
  private readGs2Header(text: string, plus: boolean): number {
    let position: number;
    const flag = text[0];
    if (flag === 'n' || flag === 'y') {
      if (plus) throw malformed('the client selected SCRAM-SHA-256-PLUS, but the message does not include channel binding data');
      // RFC 5802 §6: "y" means the client could bind but believes we cannot: a downgrade when we offered PLUS.
      if (flag === 'y' && this.channelBinding) {
        throw new ScramProtocolError('SCRAM channel binding negotiation error: the client supports channel binding but thinks '
          + 'the server does not, and this server does support channel binding', SqlState.invalidAuthorization);
      }
      position = 1;
    } else if (flag === 'p') {
      if (!plus) throw malformed('the client selected SCRAM-SHA-256 without channel binding, but the message includes channel binding data');
      const end = text.indexOf(',');
      if (!text.startsWith('p=') || end < 0) throw malformed('malformed channel binding flag');
      if (text.slice(2, end) !== CHANNEL_BINDING_TYPE) throw new ScramProtocolError(`unsupported SCRAM channel-binding type (only ${CHANNEL_BINDING_TYPE} is)`);
      position = end;
    } else {
      throw malformed('unexpected channel-binding flag');
    }
    if (text[position] !== ',') throw malformed('expected a comma after the channel-binding flag');
    if (text[position + 1] === 'a') throw new ScramProtocolError('client uses authorization identity, but it is not supported', FEATURE_NOT_SUPPORTED);
    if (text[position + 1] !== ',') throw malformed('unexpected attribute in the GS2 header');
    return position + 2;
  }
}

function malformed(detail: string): ScramProtocolError {
  return new ScramProtocolError(`malformed SCRAM message: ${detail}`);
}

/** The message as one char per byte (latin1), so the AuthMessage hashes exactly the bytes the client sent. */
function messageText(message: Buffer): string {
  if (message.length === 0) throw malformed('empty message');
  // PostgreSQL reads SCRAM messages as C strings: a NUL would truncate them there.
  if (message.includes(0)) throw malformed('the message contains a zero byte');
  return message.toString('latin1');
}
