import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bindComplete, closeComplete, commandComplete, dataRow, localAnswer, managedParameterNotice, noData,
  noticeResponse, parameterDescription, setLocalOutsideTransactionWarning, parseComplete, portalSuspended, readyForQuery, rowDescription, simpleQueryAnswer, TypeOid,
} from '../../src/compat/answers.js';
import { classify, type LocalStatement } from '../../src/compat/classify.js';
import { parseErrorResponse } from '../../src/protocol/messages.js';
import { cstring, int16, int32, message } from '../support/wire.js';
import { PostgresWire, types } from './postgres-wire.js';

const local = (sql: string): LocalStatement => {
  const c = classify(sql);
  if (c.kind === 'other') throw new Error(`not recognised: ${sql}`);
  return c;
};
/** Splits concatenated backend messages into frames. */
const frames = (bytes: Buffer): Buffer[] => {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 1 + bytes.readInt32BE(at + 1)) out.push(bytes.subarray(at, at + 1 + bytes.readInt32BE(at + 1)));
  return out;
};
const withoutNotices = (list: readonly Buffer[]): Buffer[] => list.filter((f) => f[0] !== 0x4e);
/**
 * PostgreSQL also reports GUC_REPORT parameters that changed (ParameterStatus: is_superuser after SET ROLE,
 * application_name); a statement answered locally changes nothing, so it reports nothing.
 */
const withoutStatus = (list: readonly Buffer[]): Buffer[] => list.filter((f) => f[0] !== 0x53);

describe('message builders', () => {
  it('builds CommandComplete, the empty messages and ReadyForQuery', () => {
    expect(commandComplete('SET')).toEqual(message('C', cstring('SET')));
    expect(parseComplete()).toEqual(message('1'));
    expect(bindComplete()).toEqual(message('2'));
    expect(closeComplete()).toEqual(message('3'));
    expect(noData()).toEqual(message('n'));
    expect(portalSuspended()).toEqual(message('s'));
    expect(readyForQuery('T')).toEqual(message('Z', Buffer.from('T')));
  });

  it('builds RowDescription, DataRow (with nulls) and ParameterDescription', () => {
    expect(rowDescription([{ name: 'a', typeOid: TypeOid.int4, format: 1 }, { name: 'b', typeOid: TypeOid.text }])).toEqual(message('T', int16(2),
      cstring('a'), int32(0), int16(0), int32(23), int16(4), int32(-1), int16(1),
      cstring('b'), int32(0), int16(0), int32(25), int16(-1), int32(-1), int16(0)));
    expect(dataRow([Buffer.from('x'), null])).toEqual(message('D', int16(2), int32(1), Buffer.from('x'), int32(-1)));
    expect(parameterDescription()).toEqual(message('t', int16(0)));
    expect(parameterDescription([25, 23])).toEqual(message('t', int16(2), int32(25), int32(23)));
  });

  it('builds a NoticeResponse with S, V, C, M, H and a terminator', () => {
    expect(noticeResponse({ severity: 'NOTICE', code: '00000', message: 'm', hint: 'h' }))
      .toEqual(message('N', Buffer.from('SNOTICE\0VNOTICE\0C00000\0Mm\0Hh\0\0')));
  });

  it('says which parameter Aurora DSQL manages, and never its value', () => {
    const secret = 'hunter2-secret';
    for (const sql of [`SET LOCAL app.password = '${secret}'`, `select set_config('app.password', '${secret}', false)`]) {
      const answer = simpleQueryAnswer(local(sql), 1);
      if (sql.startsWith('SET')) expect(answer.toString('utf8')).not.toContain(secret); // set_config's row carries it by design
      const notice = frames(answer).find((f) => f[0] === 0x4e)!;
      expect(notice.toString('utf8')).not.toContain(secret);
      expect(parseErrorResponse(notice)).toMatchObject({ severity: 'NOTICE', code: '00000' });
      expect(parseErrorResponse(notice).message).toContain('"app.password"');
    }
    expect(parseErrorResponse(managedParameterNotice('statement_timeout', 'RESET')).message)
      .toBe('Aurora DSQL manages parameter "statement_timeout": dsql-proxy answered this RESET without sending it');
  });

  it('answers SET and RESET with a notice and no row description', () => {
    const set = localAnswer(local('SET client_min_messages TO warning'), { backendPid: 1 });
    expect(set.description).toBeUndefined();
    expect(types(set.execution)).toBe('NC');
    expect(set.execution[1]).toEqual(commandComplete('SET'));
    expect(localAnswer(local('RESET statement_timeout'), { backendPid: 1 }).execution[1]).toEqual(commandComplete('RESET'));
  });

  it('answers pg_backend_pid() in binary when Bind asks for it', () => {
    const answer = localAnswer(local('select pg_backend_pid()'), { backendPid: 0x01020304, format: 1 });
    expect(answer.description).toEqual(rowDescription([{ name: 'pg_backend_pid', typeOid: TypeOid.int4, format: 1 }]));
    expect(answer.execution[0]).toEqual(dataRow([Buffer.from([1, 2, 3, 4])]));
  });
});

describe('answers match what PostgreSQL sends', () => {
  let wire: PostgresWire;
  beforeAll(async () => { wire = await PostgresWire.open(); });
  afterAll(() => wire?.close());

  it.each([
    'SET client_min_messages = notice',
    'SET client_min_messages TO warning',
    "SET LOCAL statement_timeout = '5s'",
    'RESET client_min_messages',
    'SET ROLE app_reader',
    'RESET ROLE',
    "select set_config('bytea_output','hex',false)",
    "SELECT set_config('bytea_output','hex',false) FROM pg_show_all_settings() WHERE name = 'bytea_output'",
    "select set_config('application_name', 'pgAdmin 4', false) as \"App\"",
    'select pg_backend_pid()',
    'SELECT pg_backend_pid() AS pid',
  ])('answers %j with the bytes PostgreSQL sends, plus our notice', async (sql) => {
    const fromPostgres = withoutStatus(withoutNotices((await wire.query(sql)).slice(0, -1))); // without ReadyForQuery
    const ours = frames(simpleQueryAnswer(local(sql), wire.backendPid));
    expect(withoutNotices(ours)).toEqual(fromPostgres);
    expect(types(ours).replace(/[^N]/g, '')).toBe(sql.includes('pg_backend_pid') ? '' : 'N');
  });

  it('warns about SET LOCAL outside a transaction as PostgreSQL does, and only when it is alone in its Query', async () => {
    const alone = await wire.query('SET LOCAL client_min_messages = notice');
    expect(types(alone)).toBe('NCZ');
    expect(parseErrorResponse(alone[0]!)).toEqual(parseErrorResponse(setLocalOutsideTransactionWarning()));
    expect(types(await wire.query('SET LOCAL client_min_messages = notice; select 1'))).toBe('CTDCZ');
  });

  it('answers the extended protocol as PostgreSQL does: Parse, Bind (binary result), Describe, Execute, Sync', async () => {
    const sql = 'select pg_backend_pid() as pid';
    const fromPostgres = await wire.send(Buffer.concat([
      message('P', cstring(''), cstring(sql), int16(0)),
      message('B', cstring(''), cstring(''), int16(0), int16(0), int16(1), int16(1)),
      message('D', Buffer.from('P'), cstring('')),
      message('E', cstring(''), int32(0)),
      message('S'),
    ]));
    const answer = localAnswer(local(sql), { backendPid: wire.backendPid, format: 1 });
    expect(fromPostgres).toEqual([parseComplete(), bindComplete(), answer.description, ...answer.execution, readyForQuery('I')]);
  });

  it('describes a statement as PostgreSQL does: no parameters, then the row or NoData', async () => {
    const describe = (sql: string): Buffer => Buffer.concat([
      message('P', cstring(''), cstring(sql), int16(0)), message('D', Buffer.from('S'), cstring('')), message('S'),
    ]);
    const pid = localAnswer(local('select pg_backend_pid()'), { backendPid: wire.backendPid });
    expect(await wire.send(describe('select pg_backend_pid()'))).toEqual([parseComplete(), parameterDescription(), pid.description, readyForQuery('I')]);
    expect(await wire.send(describe('SET client_min_messages = notice'))).toEqual([parseComplete(), parameterDescription(), noData(), readyForQuery('I')]);
  });
});

describe('the notice for SET ROLE', () => {
  it('is a WARNING saying the session keeps its login role, since a client dropping privileges would otherwise believe it did', () => {
    const fields = parseErrorResponse(managedParameterNotice('role', 'SET'));
    expect(fields.severity).toBe('WARNING');
    expect(fields.code).toBe('01000');
    expect(fields.message).toContain('keeps the privileges of the role it logged in as');
    expect(fields.hint).toContain('SET LOCAL ROLE');
    expect(parseErrorResponse(managedParameterNotice('role', 'RESET')).severity).toBe('NOTICE');
  });
});
