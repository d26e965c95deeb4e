import { MessageType, SSL_REQUEST_CODE } from './codes.js';
import { ProtocolError } from './errors.js';
import { MessageReader } from './reader.js';
import { MessageWriter } from './writer.js';

/** Fields of an ErrorResponse or NoticeResponse the proxy writes or reads. */
export interface ErrorFields {
  /** Severity, e.g. FATAL or ERROR. */
  readonly severity: string;
  /** Five-character SQLSTATE. */
  readonly code: string;
  readonly message: string;
  readonly detail?: string | undefined;
  readonly hint?: string | undefined;
}

/** Builds an ErrorResponse ('E') with S, V, C, M and, when given, D and H fields. */
export function errorResponse(fields: ErrorFields): Buffer {
  const writer = new MessageWriter(MessageType.errorResponse)
    .bytes(Buffer.from('S')).cstring(fields.severity)
    .bytes(Buffer.from('V')).cstring(fields.severity)
    .bytes(Buffer.from('C')).cstring(fields.code)
    .bytes(Buffer.from('M')).cstring(fields.message);
  if (fields.detail) writer.bytes(Buffer.from('D')).cstring(fields.detail);
  if (fields.hint) writer.bytes(Buffer.from('H')).cstring(fields.hint);
  return writer.bytes(Buffer.from([0])).finish();
}

/** Parses an ErrorResponse or NoticeResponse frame into its known fields (unknown fields are skipped). */
export function parseErrorResponse(frame: Buffer): ErrorFields {
  const reader = new MessageReader(frame, 5);
  const fields = new Map<string, string>();
  for (;;) {
    const type = reader.byte();
    if (type === 0) break;
    fields.set(String.fromCharCode(type), reader.cstring());
  }
  return {
    severity: fields.get('V') ?? fields.get('S') ?? 'ERROR',
    code: fields.get('C') ?? '',
    message: fields.get('M') ?? '',
    detail: fields.get('D'),
    hint: fields.get('H'),
  };
}

/** Builds a PasswordMessage ('p') carrying `password`. */
export function passwordMessage(password: string): Buffer {
  return new MessageWriter(MessageType.passwordMessage).cstring(password).finish();
}

/** Builds a NegotiateProtocolVersion ('v') offering `version` and listing the unsupported options. */
export function negotiateProtocolVersion(version: number, unsupportedOptions: readonly string[]): Buffer {
  const writer = new MessageWriter(MessageType.negotiateProtocolVersion).int32(version).int32(unsupportedOptions.length);
  for (const name of unsupportedOptions) writer.cstring(name);
  return writer.finish();
}

/** Parses a NegotiateProtocolVersion frame. */
export function parseNegotiateProtocolVersion(frame: Buffer): { version: number; unsupportedOptions: string[] } {
  const reader = new MessageReader(frame, 5);
  const version = reader.int32();
  const count = reader.int32();
  const unsupportedOptions: string[] = [];
  for (let i = 0; i < count; i++) unsupportedOptions.push(reader.cstring());
  return { version, unsupportedOptions };
}

/** Builds an SSLRequest packet. */
export function sslRequest(): Buffer {
  return new MessageWriter().int32(SSL_REQUEST_CODE).finish();
}

/** Returns the authentication request code of an 'R' frame. */
export function authenticationCode(frame: Buffer): number {
  if (frame[0] !== MessageType.authentication) throw new ProtocolError('not an authentication request');
  return new MessageReader(frame, 5).int32();
}

/** Returns the password carried by a PasswordMessage frame. */
export function parsePasswordMessage(frame: Buffer): string {
  if (frame[0] !== MessageType.passwordMessage) throw new ProtocolError('expected a password message');
  return new MessageReader(frame, 5).cstring();
}

/** Builds an Authentication request ('R') with the given code and no extra data. */
export function authenticationRequest(code: number): Buffer {
  return new MessageWriter(MessageType.authentication).int32(code).finish();
}
