import {
  CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, PROTOCOL_3_0, PROTOCOL_EXTENSION_PREFIX, SSL_REQUEST_CODE,
} from './codes.js';
import { ProtocolError } from './errors.js';
import { MessageReader } from './reader.js';
import { MessageWriter } from './writer.js';

/** One startup parameter, in the order the client sent it. */
export type StartupParameter = readonly [name: string, value: string];

/** A parsed StartupMessage. */
export interface StartupMessage {
  readonly kind: 'startup';
  /** Full protocol number, e.g. 196608 for 3.0. */
  readonly version: number;
  readonly parameters: readonly StartupParameter[];
}

/** A parsed CancelRequest; `raw` is the packet exactly as received, for forwarding. */
export interface CancelRequest {
  readonly kind: 'cancel';
  readonly processId: number;
  readonly raw: Buffer;
}

/** Anything a client may send before its StartupMessage completes the handshake. */
export type StartupPacket = { readonly kind: 'ssl' } | { readonly kind: 'gssenc' } | CancelRequest | StartupMessage;

/** Parses one whole startup-phase packet (as returned by a 'startup' Framer). */
export function parseStartupPacket(packet: Buffer): StartupPacket {
  const reader = new MessageReader(packet, 4);
  const code = reader.int32();
  switch (code) {
    case SSL_REQUEST_CODE: return exactLength(packet, 8, { kind: 'ssl' });
    case GSSENC_REQUEST_CODE: return exactLength(packet, 8, { kind: 'gssenc' });
    case CANCEL_REQUEST_CODE: {
      // 3.0 carries a 4-byte key; 3.2 allows 4..256 bytes (protocol docs, CancelRequest).
      if (packet.length < 16 || packet.length > 12 + 256) {
        throw new ProtocolError(`invalid length of cancel request packet (${packet.length} bytes)`);
      }
      return { kind: 'cancel', processId: reader.int32(), raw: packet };
    }
  }
  const major = code >>> 16;
  if (major !== 3) {
    throw new ProtocolError(`unsupported frontend protocol ${major}.${code & 0xffff}: server supports 3.0 to 3.0`);
  }
  const parameters: StartupParameter[] = [];
  for (;;) {
    const name = reader.cstring();
    if (name === '') break;
    parameters.push([name, reader.cstring()]);
  }
  if (reader.remaining !== 0) throw new ProtocolError('invalid startup packet layout: expected terminator as last byte');
  return { kind: 'startup', version: code, parameters };
}

function exactLength<T>(packet: Buffer, length: number, value: T): T {
  if (packet.length !== length) throw new ProtocolError(`invalid length of request packet (${packet.length} bytes)`);
  return value;
}

/** Serializes a StartupMessage with the given version and parameters, in order. */
export function serializeStartupMessage(version: number, parameters: readonly StartupParameter[]): Buffer {
  const writer = new MessageWriter().int32(version);
  for (const [name, value] of parameters) writer.cstring(name).cstring(value);
  return writer.bytes(Buffer.from([0])).finish();
}

/** Value of a startup parameter, or undefined; the last one when it is given twice, as PostgreSQL takes it. */
export function startupParameter(message: StartupMessage, name: string): string | undefined {
  for (let i = message.parameters.length - 1; i >= 0; i--) if (message.parameters[i]![0] === name) return message.parameters[i]![1];
  return undefined;
}

/** What the proxy must do about the protocol version a client asked for. */
export interface VersionNegotiation {
  /** Parameters to send upstream (the `_pq_.` ones removed). */
  readonly parameters: readonly StartupParameter[];
  /** Names of the `_pq_.` options the proxy does not support. */
  readonly unsupportedOptions: readonly string[];
  /** True when the client must be sent NegotiateProtocolVersion before anything else. */
  readonly mustNegotiate: boolean;
}

/**
 * Decides how to answer a client asking for a newer 3.x minor version or for `_pq_.` options:
 * the proxy speaks 3.0 upstream, so it offers 3.0 and lists every `_pq_.` option as unsupported.
 */
export function negotiateVersion(message: StartupMessage): VersionNegotiation {
  const unsupportedOptions = message.parameters
    .filter(([name]) => name.startsWith(PROTOCOL_EXTENSION_PREFIX))
    .map(([name]) => name);
  const parameters = message.parameters.filter(([name]) => !name.startsWith(PROTOCOL_EXTENSION_PREFIX));
  const mustNegotiate = message.version !== PROTOCOL_3_0 || unsupportedOptions.length > 0;
  return { parameters, unsupportedOptions, mustNegotiate };
}

/** Escapes a value for PostgreSQL's `options` splitting: whitespace and backslashes get a backslash. */
export function escapeOptionValue(value: string): string {
  return value.replace(/[\s\\]/g, (c) => '\\' + c);
}

/**
 * Appends ` -c amzn-cluster-id=<id>` to the client's `options` (adding the parameter when absent),
 * keeping every other parameter and the order. A trailing unpaired backslash in the client's value
 * would escape the separating space; PostgreSQL ignores such a backslash, so it is dropped.
 */
export function withClusterOption(parameters: readonly StartupParameter[], clusterId: string): StartupParameter[] {
  const addition = `-c amzn-cluster-id=${escapeOptionValue(clusterId)}`;
  let found = false;
  const result = parameters.map(([name, value]): StartupParameter => {
    if (name !== 'options') return [name, value];
    found = true;
    const base = dropUnpairedTrailingBackslash(value);
    return [name, base.trim() === '' ? addition : `${base} ${addition}`];
  });
  if (!found) result.push(['options', addition]);
  return result;
}

function dropUnpairedTrailingBackslash(value: string): string {
  let count = 0;
  while (count < value.length && value[value.length - 1 - count] === '\\') count++;
  return count % 2 === 1 ? value.slice(0, -1) : value;
}

/** Splits an `options` value the way PostgreSQL does (`pg_split_opts`): whitespace separates, backslash escapes. */
export function splitOptions(options: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let escaped = false;
  for (const c of options) {
    if (escaped) { current += c; escaped = false; inWord = true; continue; }
    if (c === '\\') { escaped = true; inWord = true; continue; }
    if (/\s/.test(c)) {
      if (inWord) words.push(current);
      current = ''; inWord = false;
      continue;
    }
    current += c; inWord = true;
  }
  if (inWord) words.push(current);
  return words;
}
