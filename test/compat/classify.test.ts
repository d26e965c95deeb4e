import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify, mayBeAnsweredLocally, type Classification } from '../../src/compat/classify.js';
import { answerLocally, isAllowedParameter } from '../../src/compat/policy.js';
import { PostgresWire, types } from './postgres-wire.js';

const set = (name: string, value: string, local = false): Classification => ({ kind: 'set', name, local, reset: false, value });
const reset = (name: string): Classification => ({ kind: 'set', name, local: false, reset: true, value: '' });
const setConfig = (name: string, value: string, isLocal: boolean, column = 'set_config'): Classification =>
  ({ kind: 'set_config', name, value, isLocal, column });

/** Statements the layer recognises, each valid on PostgreSQL (checked below), with what it reads. */
const RECOGNISED: ReadonlyArray<readonly [string, Classification]> = [
  ['SET DateStyle=ISO', set('datestyle', 'ISO')],
  ['SET client_min_messages=notice', set('client_min_messages', 'notice')],
  ['SET client_min_messages TO warning', set('client_min_messages', 'warning')],
  ["SET client_encoding='utf-8'", set('client_encoding', "'utf-8'")],
  ['set statement_timeout = 5000', set('statement_timeout', '5000')],
  ["SET SESSION statement_timeout TO '5s'", set('statement_timeout', "'5s'")],
  ["SET LOCAL statement_timeout = '5s'", set('statement_timeout', "'5s'", true)],
  ['SET "Client_Min_Messages" = "notice"', set('client_min_messages', '"notice"')],
  ["set /* c */ search_path to public, \"$user\", 'x' -- c", set('search_path', "public, \"$user\", 'x'")],
  ['SET extra_float_digits = -1', set('extra_float_digits', '-1')],
  ['SET extra_float_digits = +1', set('extra_float_digits', '+1')],
  ['SET work_mem TO DEFAULT', set('work_mem', 'DEFAULT')],
  ['SET my.custom TO on', set('my.custom', 'on')],
  ['SET work_mem FROM CURRENT', set('work_mem', 'FROM CURRENT')],
  ["SET TIME ZONE 'UTC'", set('timezone', "'UTC'")],
  ['SET LOCAL TIME ZONE LOCAL', set('timezone', 'LOCAL', true)],
  ["SET SCHEMA 'public'", set('search_path', "'public'")],
  ["SET NAMES 'UTF8'", set('client_encoding', "'UTF8'")],
  ['SET ROLE app_reader', set('role', 'app_reader')],
  ['SET LOCAL ROLE app_reader', set('role', 'app_reader', true)],
  ['SET ROLE NONE', set('role', 'NONE')],
  ['SET SESSION AUTHORIZATION admin', set('session_authorization', 'admin')],
  ['SET XML OPTION content', set('xmloption', 'content')],
  ['RESET client_min_messages', reset('client_min_messages')],
  ['reset ALL', reset('all')],
  ['RESET TIME ZONE', reset('timezone')],
  ['RESET ROLE', reset('role')],
  ['RESET SESSION AUTHORIZATION', reset('session_authorization')],
  ['RESET TRANSACTION ISOLATION LEVEL', reset('transaction_isolation')],
  ["SELECT set_config('bytea_output','hex',false) FROM pg_show_all_settings() WHERE name = 'bytea_output'",
    setConfig('bytea_output', 'hex', false)],
  ["select set_config('statement_timeout', '5s', true)", setConfig('statement_timeout', '5s', true)],
  ["SELECT pg_catalog.set_config('Application_Name', 'it''s', false) AS Old", setConfig('application_name', "it's", false, 'old')],
  ["select set_config('application_name', E'1\\'0', false) as \"Value\"", setConfig('application_name', "1'0", false, 'Value')],
  ["select set_config('lock_timeout', $$10$$, false)", setConfig('lock_timeout', '10', false)],
  ['SELECT pg_backend_pid()', { kind: 'backend_pid', column: 'pg_backend_pid' }],
  ['SELECT pg_backend_pid() AS pid', { kind: 'backend_pid', column: 'pid' }],
  ['select PG_CATALOG.PG_BACKEND_PID ( ) as "Pid"', { kind: 'backend_pid', column: 'Pid' }],
  [`select pg_backend_pid() as ${'a'.repeat(70)}`, { kind: 'backend_pid', column: 'a'.repeat(63) }],
];

/** Statements the layer must leave to the server. */
const OTHERS: readonly string[] = [
  'select 1', 'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY',
  'SET CONSTRAINTS ALL DEFERRED', 'set x =', 'set x', 'set x = 1 2', 'set x = (1)', 'SET ROLE a b', 'RESET a b',
  "select set_config('a', $1, false)", "select set_config($1, 'b', false)", "select set_config('a', 'b', $1)",
  "select set_config('a', 'b'::text, false)", "select set_config('a', 'b', 1 = 1)", "select set_config('a', null, false)",
  "select set_config('a', E'\\n', false)", "select set_config('a', 'b\\c', false)", "select set_config('a', 'b', false) x",
  "select set_config('a', 'b', false), 1", "select set_config('a', 'b', false) from t",
  "select set_config('a', 'b', false) FROM pg_show_all_settings() WHERE name = 'c'",
  "select set_config('bad name', 'b', false)", "select \"SET_CONFIG\"('a', 'b', false)", "select set_config('a', U&'b', false)",
  'select pg_backend_pid() from t', 'select pg_backend_pid() + 1', 'select pg_backend_pid(1)', 'select pg_backend_pid() pid',
  "set x = 'open", 'set x = 1 /* open', 'show statement_timeout', 'settings', '"set" x = 1', '',
];

describe('classifying a statement', () => {
  it.each(RECOGNISED)('reads %j', (sql, expected) => {
    expect(classify(sql)).toEqual(expected);
    expect(classify(Buffer.from(sql))).toEqual(expected);
  });

  it.each(OTHERS)('leaves %j to the server', (sql) => {
    expect(classify(sql)).toEqual({ kind: 'other' });
  });

  it('gives up on statements longer than any recognised form', () => {
    expect(classify(`SET search_path = ${Array.from({ length: 100 }, (_, i) => `s${i}`).join(', ')}`)).toEqual({ kind: 'other' });
  });

  it('finds every recognised statement with the cheap prefilter, and lets ordinary queries skip', () => {
    for (const [sql] of RECOGNISED) expect(mayBeAnsweredLocally(Buffer.from(sql)), sql).toBe(true);
    expect(mayBeAnsweredLocally(Buffer.from('SeT x = 1'))).toBe(true);
    expect(mayBeAnsweredLocally(Buffer.from('select * from orders where id = $1'))).toBe(false);
    expect(mayBeAnsweredLocally(Buffer.from(''))).toBe(false);
  });
});

describe("DSQL's parameter allowlist", () => {
  it.each([
    'application_name', 'client_encoding', 'DateStyle', 'datestyle', 'extra_float_digits', 'IntervalStyle', 'TimeZone',
    'search_path', 'enable_seqscan', 'ENABLE_hashjoin', 'dsql.enable_batched_nestloop', 'disable_sync_create_index',
  ])('allows %s', (name) => {
    expect(isAllowedParameter(name)).toBe(true);
  });

  it.each(['client_min_messages', 'statement_timeout', 'lock_timeout', 'bytea_output', 'work_mem', 'dsql.other', 'xenable_x'])('refuses %s', (name) => {
    expect(isAllowedParameter(name)).toBe(false);
  });

  it('allows role only with SET LOCAL', () => {
    expect(isAllowedParameter('role')).toBe(false);
    expect(isAllowedParameter('ROLE', true)).toBe(true);
  });
});

describe('deciding what the proxy answers itself', () => {
  const decide = (sql: string, status: 'I' | 'T' | 'E' = 'I'): boolean => answerLocally(classify(sql), status);

  it('answers SET, SET LOCAL, RESET and set_config of parameters outside the allowlist', () => {
    expect(decide('SET client_min_messages TO warning')).toBe(true);
    expect(decide("SET LOCAL statement_timeout = '5s'", 'T')).toBe(true);
    expect(decide('RESET statement_timeout')).toBe(true);
    expect(decide("SELECT set_config('bytea_output','hex',false) FROM pg_show_all_settings() WHERE name = 'bytea_output'")).toBe(true);
  });

  it('sends allowlisted parameters to the server', () => {
    expect(decide('SET DateStyle=ISO')).toBe(false);
    expect(decide("SET client_encoding='utf-8'")).toBe(false);
    expect(decide("SET TIME ZONE 'UTC'")).toBe(false);
    expect(decide("select pg_catalog.set_config('search_path', '', false)")).toBe(false);
    expect(decide('SET enable_seqscan = off')).toBe(false);
  });

  it('answers SET ROLE without LOCAL and sends SET LOCAL ROLE', () => {
    expect(decide('SET ROLE app_reader')).toBe(true);
    expect(decide('SET LOCAL ROLE app_reader', 'T')).toBe(false);
    expect(decide("select set_config('role', 'app_reader', true)", 'T')).toBe(false);
  });

  it('answers pg_backend_pid()', () => {
    expect(decide('SELECT pg_backend_pid() AS pid')).toBe(true);
  });

  it('never fakes identity, isolation, read-only guards or RESET ALL', () => {
    for (const sql of ['SET SESSION AUTHORIZATION admin', 'RESET SESSION AUTHORIZATION', 'RESET ALL',
      'SET transaction_read_only = on', 'SET default_transaction_read_only = on', "SET default_transaction_isolation = 'serializable'",
      'RESET TRANSACTION ISOLATION LEVEL', "select set_config('default_transaction_read_only', 'on', false)"]) {
      expect(decide(sql), sql).toBe(false);
    }
  });

  it('answers nothing in a failed transaction, where only the server can say 25P02', () => {
    expect(decide('SET client_min_messages TO warning', 'E')).toBe(false);
    expect(decide('SELECT pg_backend_pid()', 'E')).toBe(false);
    expect(decide('SET client_min_messages TO warning', 'T')).toBe(true);
  });

  it('sends everything else', () => {
    expect(decide('select 1')).toBe(false);
    expect(decide('SET TRANSACTION READ ONLY', 'T')).toBe(false);
  });
});

describe('what the layer recognises is what PostgreSQL accepts', () => {
  let wire: PostgresWire;
  beforeAll(async () => { wire = await PostgresWire.open(); });
  afterAll(() => wire?.close());

  it.each(RECOGNISED)('PostgreSQL runs %j', async (sql, expected) => {
    const frames = await wire.query(`BEGIN; ${sql}\n; ROLLBACK`);
    if (frames.at(-1)![5] !== 0x49) await wire.query('ROLLBACK'); // leave the session usable for the next case
    expect(types(frames).replace(/[NS]/g, ''), sql).toMatch(expected.kind === 'set' ? /^CCCZ$/ : /^CTDCCZ$/);
    const tag = frames.filter((f) => f[0] === 0x43)[1]!.toString('utf8', 5, frames.filter((f) => f[0] === 0x43)[1]!.length - 1);
    expect(tag).toBe(expected.kind === 'set' ? (expected.reset ? 'RESET' : 'SET') : 'SELECT 1');
    if (expected.kind === 'set_config' || expected.kind === 'backend_pid') {
      const description = frames.find((f) => f[0] === 0x54)!;
      expect(description.toString('utf8', 7, description.indexOf(0, 7)), 'the column name PostgreSQL gives').toBe(expected.column);
    }
  });

  it.each(['set x =', 'set x = 1 2', 'SET ROLE a b', 'RESET a b', "select set_config('a', 'b', false) from"])(
    'PostgreSQL rejects the near-miss %j too', async (sql) => {
      const frames = await wire.query(sql);
      expect(types(frames)).toBe('EZ');
    });
});
