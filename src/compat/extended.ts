import { MessageReader } from '../protocol/reader.js';
import type { FormatCode } from './answers.js';

/** Frontend message type bytes the compat layer reads or counts (protocol docs §55.7). */
export const ClientType = {
  query: 0x51, // 'Q'
  parse: 0x50, // 'P'
  bind: 0x42, // 'B'
  describe: 0x44, // 'D'
  execute: 0x45, // 'E'
  close: 0x43, // 'C'
  sync: 0x53, // 'S'
  flush: 0x48, // 'H'
  functionCall: 0x46, // 'F'
} as const;

/** A Parse message's fields the layer needs. */
export interface ParseFields {
  readonly statement: string;
  /** The query text without its NUL, sharing memory with the message. */
  readonly query: Buffer;
  readonly parameterTypes: number;
}

/** A Bind message's fields the layer needs. */
export interface BindFields {
  readonly portal: string;
  readonly statement: string;
  readonly parameters: number;
  /** The format of the first result column (Bind's result format codes: none → text, one → all columns). */
  readonly resultFormat: FormatCode;
}

/** Describe or Close: a statement ('S') or a portal ('P') and its name. */
export interface TargetFields {
  readonly target: 'S' | 'P';
  readonly name: string;
}

/** Reads a whole Parse message (header included); throws ProtocolError when it is malformed. */
export function readParse(message: Buffer): ParseFields {
  const reader = new MessageReader(message, 5);
  const statement = reader.cstring();
  const start = message.length - reader.remaining;
  const nul = message.indexOf(0, start);
  if (nul < 0) reader.cstring(); // throws: truncated
  const query = message.subarray(start, nul);
  const rest = new MessageReader(message, nul + 1);
  return { statement, query, parameterTypes: int16(rest) };
}

/** Reads a whole Bind message; throws ProtocolError when it is malformed. */
export function readBind(message: Buffer): BindFields {
  const reader = new MessageReader(message, 5);
  const portal = reader.cstring();
  const statement = reader.cstring();
  reader.skip(2 * Math.max(0, int16(reader)));
  const parameters = int16(reader);
  for (let i = 0; i < parameters; i++) {
    const length = reader.int32();
    if (length > 0) reader.skip(length);
  }
  const formats = reader.remaining >= 2 ? int16(reader) : 0;
  const resultFormat: FormatCode = formats > 0 && int16(reader) === 1 ? 1 : 0;
  return { portal, statement, parameters, resultFormat };
}

/** Reads a whole Describe or Close message; throws ProtocolError when it is malformed. */
export function readTarget(message: Buffer): TargetFields {
  const reader = new MessageReader(message, 5);
  const target = reader.byte() === 0x53 ? 'S' : 'P';
  return { target, name: reader.cstring() };
}

/** An Execute message's portal and row limit (0: no limit). */
export interface ExecuteFields {
  readonly portal: string;
  readonly maxRows: number;
}

/** Reads a whole Execute message; throws ProtocolError when it is malformed. */
export function readExecute(message: Buffer): ExecuteFields {
  const reader = new MessageReader(message, 5);
  return { portal: reader.cstring(), maxRows: reader.int32() };
}

function int16(reader: MessageReader): number {
  return (reader.byte() << 8 | reader.byte()) << 16 >> 16;
}
