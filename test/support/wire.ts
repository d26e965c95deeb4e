/**
 * The emulator's own PostgreSQL wire codec, written from the protocol documentation and kept apart from the
 * proxy's (src/protocol): a bug shared by the proxy and the emulator would otherwise pass every test unseen.
 * Only what a stand-in server needs: startup-phase packets, typed messages, the few messages it sends or reads.
 */

/** Protocol 3.0 as a StartupMessage states it: major 3 in the high 16 bits, minor 0. */
export const PROTOCOL_3_0 = 196608;
/** SSLRequest: the code that takes the protocol version's place (1234 in the high 16 bits, 5679 low). */
export const SSL_REQUEST_CODE = 80877103;
/** GSSENCRequest's code (1234, 5680). */
export const GSSENC_REQUEST_CODE = 80877104;
/** CancelRequest's code (1234, 5678). */
export const CANCEL_REQUEST_CODE = 80877102;
/** PostgreSQL refuses a startup packet whose body (after the length word) is longer than this. */
export const MAX_STARTUP_BODY = 10_000;
/** AuthenticationOk's code in an 'R' message. */
export const AUTH_OK = 0;
/** AuthenticationCleartextPassword's code: the only password request DSQL sends. */
export const AUTH_CLEARTEXT_PASSWORD = 3;
/** AuthenticationSASL's code (used only as a fault: DSQL never asks for SASL). */
export const AUTH_SASL = 10;

/** A malformed packet or message. */
export class WireError extends Error {}

/** A startup-phase packet, decoded. */
export type StartupPacket =
  | { readonly kind: 'ssl' }
  | { readonly kind: 'gssenc' }
  | { readonly kind: 'cancel'; readonly processId: number; readonly key: Buffer }
  | { readonly kind: 'startup'; readonly version: number; readonly parameters: ReadonlyArray<readonly [string, string]> };

/**
 * Cuts a byte stream into packets: startup-phase ones (Int32 length counting itself, then the body) or typed
 * ones (a type byte, then an Int32 length counting itself but not the type byte). Which kind comes next is the
 * caller's knowledge, as it is the server's.
 */
export class Deframer {
  private buffer: Buffer = Buffer.alloc(0);

  /** Appends received bytes. */
  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
  }

  /** Bytes received but not yet returned as a packet. */
  get buffered(): number {
    return this.buffer.length;
  }

  /** Hands over (and forgets) the bytes not yet returned. */
  rest(): Buffer {
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest;
  }

  /** The next whole startup-phase packet (length word included), or undefined until one has arrived. */
  nextStartup(): Buffer | undefined {
    if (this.buffer.length < 4) return undefined;
    const length = this.buffer.readInt32BE(0);
    if (length < 8 || length > 4 + MAX_STARTUP_BODY) throw new WireError(`invalid length of startup packet: ${length}`);
    return this.take(length);
  }

  /** The next whole typed message (type byte included), or undefined until one has arrived. */
  nextTyped(maxLength = 16 * 1024 * 1024): Buffer | undefined {
    if (this.buffer.length < 5) return undefined;
    const length = this.buffer.readInt32BE(1);
    if (length < 4 || length > maxLength) throw new WireError(`invalid message length ${length} for type 0x${this.buffer[0]!.toString(16)}`);
    return this.take(1 + length);
  }

  private take(size: number): Buffer | undefined {
    if (this.buffer.length < size) return undefined;
    const packet = this.buffer.subarray(0, size);
    this.buffer = this.buffer.subarray(size);
    return packet;
  }
}

/** Decodes a startup-phase packet as returned by `Deframer.nextStartup`. */
export function parseStartupPacket(packet: Buffer): StartupPacket {
  const code = packet.readInt32BE(4);
  if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
    if (packet.length !== 8) throw new WireError(`encryption request of length ${packet.length}`);
    return { kind: code === SSL_REQUEST_CODE ? 'ssl' : 'gssenc' };
  }
  if (code === CANCEL_REQUEST_CODE) {
    // 3.0 keys are 4 bytes; protocol 3.2 allows 4 to 256.
    const keyLength = packet.length - 12;
    if (keyLength < 4 || keyLength > 256) throw new WireError(`cancel request of length ${packet.length}`);
    return { kind: 'cancel', processId: packet.readInt32BE(8), key: Buffer.from(packet.subarray(12)) };
  }
  if (code >>> 16 !== 3) throw new WireError(`unsupported protocol ${code >>> 16}.${code & 0xffff}`);
  return { kind: 'startup', version: code, parameters: parseParameters(packet.subarray(8)) };
}

/** Reads `(name NUL value NUL)* NUL`; the final NUL must be the packet's last byte. */
function parseParameters(body: Buffer): Array<[string, string]> {
  const strings: string[] = [];
  let at = 0;
  for (;;) {
    const end = body.indexOf(0, at);
    if (end < 0) throw new WireError('startup packet does not end with a terminator');
    if (end === at && strings.length % 2 === 0) {
      if (end !== body.length - 1) throw new WireError('bytes after the startup packet terminator');
      break;
    }
    strings.push(body.toString('utf8', at, end));
    at = end + 1;
  }
  const parameters: Array<[string, string]> = [];
  for (let i = 0; i < strings.length; i += 2) parameters.push([strings[i]!, strings[i + 1]!]);
  return parameters;
}

/** Encodes a StartupMessage. */
export function startupMessage(parameters: ReadonlyArray<readonly [string, string]>, version = PROTOCOL_3_0): Buffer {
  const body = Buffer.concat([...parameters.flatMap(([name, value]) => [cstring(name), cstring(value)]), Buffer.from([0])]);
  return startupPacket(version, body);
}

/** Encodes an SSLRequest. */
export function sslRequest(): Buffer {
  return startupPacket(SSL_REQUEST_CODE, Buffer.alloc(0));
}

/** Encodes a CancelRequest. */
export function cancelRequest(processId: number, key: Buffer): Buffer {
  const pid = Buffer.alloc(4);
  pid.writeInt32BE(processId);
  return startupPacket(CANCEL_REQUEST_CODE, Buffer.concat([pid, key]));
}

function startupPacket(code: number, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(code, 4);
  return Buffer.concat([head, body]);
}

/** A NUL-terminated UTF-8 string. */
export function cstring(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'utf8');
}

/** An Int32 in network order. */
export function int32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeInt32BE(value);
  return out;
}

/** An Int16 in network order. */
export function int16(value: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeInt16BE(value);
  return out;
}

/** A typed message: the type character, the length (counting itself), then `parts`. */
export function message(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(type, 'latin1'), int32(4 + body.length), body]);
}

/** Fields of an ErrorResponse. */
export interface ErrorFields {
  readonly severity: 'FATAL' | 'ERROR';
  readonly code: string;
  readonly message: string;
  readonly detail?: string;
  readonly hint?: string;
}

/** Encodes an ErrorResponse ('E'): S and V severity, C SQLSTATE, M message, optional D and H. */
export function errorResponse(fields: ErrorFields): Buffer {
  const parts = [['S', fields.severity], ['V', fields.severity], ['C', fields.code], ['M', fields.message],
    ['D', fields.detail], ['H', fields.hint]] as const;
  const encoded = parts.flatMap(([tag, value]) => (value === undefined ? [] : [Buffer.from(tag), cstring(value)]));
  return message('E', ...encoded, Buffer.from([0]));
}

/** Decodes the fields of an ErrorResponse or NoticeResponse, keyed by their one-letter tag. */
export function parseErrorFields(frame: Buffer): Record<string, string> {
  const fields: Record<string, string> = {};
  let at = 5;
  while (at < frame.length && frame[at] !== 0) {
    const end = frame.indexOf(0, at + 1);
    if (end < 0) throw new WireError('unterminated error field');
    fields[String.fromCharCode(frame[at]!)] = frame.toString('utf8', at + 1, end);
    at = end + 1;
  }
  return fields;
}

/** Encodes an Authentication request ('R') carrying only its code (ok, cleartext password). */
export function authenticationRequest(code: number): Buffer {
  return message('R', int32(code));
}

/** Encodes AuthenticationSASL offering `mechanisms`. */
export function authenticationSasl(mechanisms: readonly string[]): Buffer {
  return message('R', int32(AUTH_SASL), ...mechanisms.map(cstring), Buffer.from([0]));
}

/** Encodes a PasswordMessage ('p'). */
export function passwordMessage(password: string): Buffer {
  return message('p', cstring(password));
}

/** Reads the password out of a PasswordMessage ('p', length, string, NUL). */
export function parsePasswordMessage(frame: Buffer): string {
  if (frame[0] !== 'p'.charCodeAt(0)) throw new WireError(`expected a password message, got type 0x${frame[0]?.toString(16)}`);
  if (frame.length < 6 || frame[frame.length - 1] !== 0 || frame.indexOf(0, 5) !== frame.length - 1) {
    throw new WireError('password message is not one NUL-terminated string');
  }
  return frame.toString('utf8', 5, frame.length - 1);
}

/** The characters PostgreSQL's option splitter treats as separators (C isspace). */
const SPACE = new Set([' ', '\t', '\n', '\v', '\f', '\r']);

/** Splits a startup `options` value as the server does: on whitespace, a backslash keeping the next character. */
export function splitOptions(options: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let escaped = false;
  for (const ch of options) {
    if (escaped) { word = (word ?? '') + ch; escaped = false; continue; }
    if (ch === '\\') { escaped = true; word ??= ''; continue; }
    if (SPACE.has(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
      continue;
    }
    word = (word ?? '') + ch;
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** Escapes one word so that `splitOptions` returns it whole: a backslash before each separator and backslash. */
export function escapeOption(word: string): string {
  let out = '';
  for (const ch of word) out += ch === '\\' || SPACE.has(ch) ? `\\${ch}` : ch;
  return out;
}
