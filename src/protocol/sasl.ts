/** SASL authentication messages (protocol docs §55.3.2 "SASL Authentication", §55.7 message formats). No I/O. */
import { AuthCode, MessageType } from './codes.js';
import { ProtocolError } from './errors.js';
import { MessageReader } from './reader.js';
import { MessageWriter } from './writer.js';

/** Builds AuthenticationSASL ('R', code 10) offering `mechanisms`, preferred first. */
export function authenticationSasl(mechanisms: readonly string[]): Buffer {
  const writer = new MessageWriter(MessageType.authentication).int32(AuthCode.sasl);
  for (const mechanism of mechanisms) writer.cstring(mechanism);
  return writer.cstring('').finish();
}

/** Builds AuthenticationSASLContinue ('R', code 11) carrying server-first-message. */
export function authenticationSaslContinue(data: string): Buffer {
  return new MessageWriter(MessageType.authentication).int32(AuthCode.saslContinue).bytes(Buffer.from(data, 'utf8')).finish();
}

/** Builds AuthenticationSASLFinal ('R', code 12) carrying server-final-message. */
export function authenticationSaslFinal(data: string): Buffer {
  return new MessageWriter(MessageType.authentication).int32(AuthCode.saslFinal).bytes(Buffer.from(data, 'utf8')).finish();
}

/** The body of a whole 'p' frame, after checking the type byte and that the length word covers exactly the frame. */
function passwordFrameBody(frame: Buffer, what: string): MessageReader {
  if (frame.length < 5 || frame[0] !== MessageType.passwordMessage) throw new ProtocolError(`expected a ${what} ('p' message)`);
  if (frame.readInt32BE(1) !== frame.length - 1) throw new ProtocolError(`invalid ${what}: the length does not match the message`);
  return new MessageReader(frame, 5);
}

/**
 * Parses a whole SASLInitialResponse frame: mechanism name, Int32 length of the data (-1: none, read as an empty
 * buffer), the data. Anything malformed, including bytes after the data, is a ProtocolError.
 */
export function parseSaslInitialResponse(frame: Buffer): { mechanism: string; data: Buffer } {
  const reader = passwordFrameBody(frame, 'SASLInitialResponse');
  const mechanism = reader.cstring();
  const length = reader.int32();
  if (length < -1) throw new ProtocolError('invalid SASLInitialResponse: negative data length');
  if (length > reader.remaining) throw new ProtocolError('invalid SASLInitialResponse: the data length runs past the message');
  const data = length === -1 ? Buffer.alloc(0) : reader.bytes(length);
  if (reader.remaining !== 0) throw new ProtocolError('invalid SASLInitialResponse: unexpected bytes after the data');
  return { mechanism, data };
}

/** Returns the data of a whole SASLResponse frame (its body, raw). */
export function parseSaslResponse(frame: Buffer): Buffer {
  const reader = passwordFrameBody(frame, 'SASLResponse');
  return reader.bytes(reader.remaining);
}
