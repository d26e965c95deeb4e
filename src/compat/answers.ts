import { MessageType } from '../protocol/codes.js';
import { MessageWriter } from '../protocol/writer.js';
import type { LocalStatement } from './classify.js';

/** Type bytes of the backend messages the compat layer writes (protocol docs §55.7). */
const Type = {
  commandComplete: 0x43, // 'C'
  rowDescription: 0x54, // 'T'
  dataRow: 0x44, // 'D'
  parseComplete: 0x31, // '1'
  bindComplete: 0x32, // '2'
  closeComplete: 0x33, // '3'
  noData: 0x6e, // 'n'
  parameterDescription: 0x74, // 't'
  portalSuspended: 0x73, // 's'
  readyForQuery: 0x5a, // 'Z'
} as const;

/** Type OIDs (pg_type.dat) and their typlen, as RowDescription carries them. */
export const TypeOid = { int4: 23, text: 25 } as const;
const TYPE_SIZE: Record<number, number> = { [TypeOid.int4]: 4, [TypeOid.text]: -1 };

/** Result format code of a column: 0 text, 1 binary (Bind's result-column format codes). */
export type FormatCode = 0 | 1;

/** One column of a RowDescription. */
export interface Column {
  readonly name: string;
  readonly typeOid: number;
  readonly format?: FormatCode;
}

const int16 = (value: number): Buffer => {
  const b = Buffer.allocUnsafe(2);
  b.writeInt16BE(value, 0);
  return b;
};

/** CommandComplete ('C') with `tag`, e.g. `SET`, `RESET`, `SELECT 1`. */
export function commandComplete(tag: string): Buffer {
  return new MessageWriter(Type.commandComplete).cstring(tag).finish();
}

/** RowDescription ('T'): columns not taken from a table (table OID 0, attribute 0), type modifier -1. */
export function rowDescription(columns: readonly Column[]): Buffer {
  const writer = new MessageWriter(Type.rowDescription).bytes(int16(columns.length));
  for (const c of columns) {
    writer.cstring(c.name).int32(0).bytes(int16(0)).int32(c.typeOid).bytes(int16(TYPE_SIZE[c.typeOid] ?? -1))
      .int32(-1).bytes(int16(c.format ?? 0));
  }
  return writer.finish();
}

/** DataRow ('D'); a null value is written as length -1. */
export function dataRow(values: readonly (Buffer | null)[]): Buffer {
  const writer = new MessageWriter(Type.dataRow).bytes(int16(values.length));
  for (const v of values) {
    if (v === null) writer.int32(-1);
    else writer.int32(v.length).bytes(v);
  }
  return writer.finish();
}

/** NoticeResponse ('N') with S, V, C, M and, when given, H fields. */
export function noticeResponse(fields: { severity: string; code: string; message: string; hint?: string }): Buffer {
  const field = (type: string, value: string, writer: MessageWriter): MessageWriter => writer.bytes(Buffer.from(type)).cstring(value);
  let writer = new MessageWriter(MessageType.noticeResponse);
  writer = field('C', fields.code, field('V', fields.severity, field('S', fields.severity, writer)));
  writer = field('M', fields.message, writer);
  if (fields.hint) writer = field('H', fields.hint, writer);
  return writer.bytes(Buffer.from([0])).finish();
}

/** ParseComplete ('1'). */
export function parseComplete(): Buffer { return new MessageWriter(Type.parseComplete).finish(); }
/** BindComplete ('2'). */
export function bindComplete(): Buffer { return new MessageWriter(Type.bindComplete).finish(); }
/** CloseComplete ('3'). */
export function closeComplete(): Buffer { return new MessageWriter(Type.closeComplete).finish(); }
/** NoData ('n'): the Describe answer for a statement that returns no rows (SET, RESET). */
export function noData(): Buffer { return new MessageWriter(Type.noData).finish(); }
/** PortalSuspended ('s'): an Execute's row limit was reached. */
export function portalSuspended(): Buffer { return new MessageWriter(Type.portalSuspended).finish(); }

/** ParameterDescription ('t') listing parameter type OIDs (none for the statements answered locally). */
export function parameterDescription(oids: readonly number[] = []): Buffer {
  const writer = new MessageWriter(Type.parameterDescription).bytes(int16(oids.length));
  for (const oid of oids) writer.int32(oid);
  return writer.finish();
}

/** ReadyForQuery ('Z') with the transaction status byte. */
export function readyForQuery(status: 'I' | 'T' | 'E'): Buffer {
  return new MessageWriter(Type.readyForQuery).bytes(Buffer.from(status, 'latin1')).finish();
}

/**
 * The NOTICE saying a statement was answered by the proxy. It names the parameter, never the value (a value
 * can be a password or a key), and uses SQLSTATE 00000 as PostgreSQL's own notices without a condition do.
 */
export function managedParameterNotice(name: string, command: 'SET' | 'RESET' | 'set_config'): Buffer {
  if (name === 'role' && command !== 'RESET') {
    // Not a harmless no-op: a client dropping privileges with SET ROLE keeps its login role's, so it is told loudly.
    return noticeResponse({
      severity: 'WARNING',
      code: '01000',
      message: `Aurora DSQL cannot change the session's role: dsql-proxy answered this ${command} without sending it, and the session keeps the privileges of the role it logged in as`,
      hint: 'Use SET LOCAL ROLE inside a transaction (Aurora DSQL accepts it), or connect as that role.',
    });
  }
  return noticeResponse({
    severity: 'NOTICE',
    code: '00000',
    message: `Aurora DSQL manages parameter "${name}": dsql-proxy answered this ${command} without sending it`,
    hint: 'Run dsql-proxy with --no-sql-compat to send such statements to Aurora DSQL unchanged.',
  });
}

/**
 * The WARNING PostgreSQL adds to a SET LOCAL run outside a transaction block (xact.c CheckTransactionBlock):
 * only when the status is idle and the statement is alone in its Query, since a multi-statement Query is an
 * implicit transaction block and gets no warning.
 */
export function setLocalOutsideTransactionWarning(): Buffer {
  return noticeResponse({ severity: 'WARNING', code: '25P01', message: 'SET LOCAL can only be used in transaction blocks' });
}

/**
 * What the proxy sends for a statement it answers itself: the row description (undefined: the statement
 * returns no rows, so Describe answers NoData and a simple Query sends none) and the messages of executing it
 * (notice, row, CommandComplete). A simple Query sends both in order; the extended protocol sends the first
 * for Describe and the second for Execute.
 */
export interface LocalAnswer {
  readonly description: Buffer | undefined;
  readonly execution: readonly Buffer[];
}

/** The pid the client was told in BackendKeyData, and the result format Bind asked for (default text). */
export interface AnswerContext {
  readonly backendPid: number;
  readonly format?: FormatCode;
}

/**
 * Builds PostgreSQL's answer to a statement answered locally: SET → "SET", RESET → "RESET" (utility.c's
 * command tags), each after the notice; set_config → one text column holding the new value; pg_backend_pid →
 * one int4 column holding the pid; both "SELECT 1".
 */
export function localAnswer(statement: LocalStatement, context: AnswerContext): LocalAnswer {
  const format = context.format ?? 0;
  switch (statement.kind) {
    case 'set': {
      const command = statement.reset ? 'RESET' : 'SET';
      return { description: undefined, execution: [managedParameterNotice(statement.name, command), commandComplete(command)] };
    }
    case 'set_config': {
      // set_config returns the parameter's value after the change as text; for the value as given that is the
      // given text (PostgreSQL would show a canonical spelling, e.g. '5s' for statement_timeout '5000').
      const value = Buffer.from(statement.value, 'utf8');
      return {
        description: rowDescription([{ name: statement.column, typeOid: TypeOid.text, format }]),
        execution: [managedParameterNotice(statement.name, 'set_config'), dataRow([value]), commandComplete('SELECT 1')],
      };
    }
    case 'backend_pid': {
      const pid = format === 1 ? Buffer.alloc(4) : Buffer.from(String(context.backendPid), 'latin1');
      if (format === 1) pid.writeInt32BE(context.backendPid, 0);
      return {
        description: rowDescription([{ name: statement.column, typeOid: TypeOid.int4, format }]),
        execution: [dataRow([pid]), commandComplete('SELECT 1')],
      };
    }
  }
}

/** The whole answer to one locally answered statement of a simple Query (without ReadyForQuery). */
export function simpleQueryAnswer(statement: LocalStatement, backendPid: number): Buffer {
  const answer = localAnswer(statement, { backendPid });
  return Buffer.concat(answer.description ? [answer.description, ...answer.execution] : [...answer.execution]);
}
