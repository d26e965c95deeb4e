import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { LogCapture, postgres, startTestProxy, useRig, type TestProxy } from '../support/harness.js';
import { queryMessage } from '../support/raw-client.js';
import {
  bind, describePortal, execute, expectManaged, parse, processId, psqlAt, rawSession, splitStderr, summary, sync, tableName,
  withSession, withoutManaged,
} from '../support/sql-compat-clients.js';
import { int32 } from '../support/wire.js';

/**
 * The SQL compatibility layer end to end (issue 12): what clients send on connect and Aurora DSQL refuses (SET of a
 * parameter it manages, set_config, pg_backend_pid) is answered by the proxy, everything else reaches the emulator
 * (which refuses as DSQL does) and the real PostgreSQL behind it. Every scenario runs twice with the same assertions:
 * straight at PostgreSQL, where all these statements are legal, and through the proxy. The proxy must look like
 * PostgreSQL (command tags, result shapes, order, errors, transaction status); only its notices differ.
 * A timeout in node-postgres' StartupMessage is covered by startup-settings.test.ts.
 */

const rig = useRig();

/** Where a scenario runs: PostgreSQL itself, or dsql-proxy in front of the emulator. */
interface Target {
  readonly name: string;
  readonly viaProxy: boolean;
  port(): number;
}

/** Each scenario runs at both, with the same assertions. */
const TARGETS: readonly Target[] = [
  { name: 'PostgreSQL itself', viaProxy: false, port: () => postgres().port },
  { name: 'dsql-proxy in front of the emulator', viaProxy: true, port: () => rig.proxy.port },
];

/** pgAdmin 4's connect batch, one simple Query (its psycopg 3 driver's connection.py; issue 12). */
const PGADMIN_CONNECT = "SET DateStyle=ISO; SET client_min_messages=notice; SELECT set_config('bytea_output','hex',false) "
  + "FROM pg_show_all_settings() WHERE name = 'bytea_output'; SET client_encoding='utf-8';";

describe.each(TARGETS)('$name', (target) => {
  it("answers pgAdmin's connect batch sent by psql -c as one message: every result printed, the managed parameters named in notices", async () => {
    const result = await psqlAt(target.port(), ['-c', PGADMIN_CONNECT]);
    expect(result.status, result.stderr).toBe(0);
    // psql 15 and later print the result of every statement of a -c string (SHOW_ALL_RESULTS).
    expect(result.stdout).toBe('SET\nSET\n set_config \n------------\n hex\n(1 row)\n\nSET\n');
    const stderr = splitStderr(result.stderr);
    expect(stderr.other).toEqual([]);
    expect(stderr.managed).toEqual(target.viaProxy ? ['client_min_messages', 'bytea_output'] : []);
    expect(result.stderr).not.toMatch(/'hex'|=notice/);
  });

  it("answers pgAdmin's connect batch through node-postgres: four results in statement order, set_config's one text row", async () => {
    await withSession(target.port(), async ({ client, notices }) => {
      const results = await client.query(PGADMIN_CONNECT) as unknown as pg.QueryResult[];
      expect(results.map((r) => r.command)).toEqual(['SET', 'SET', 'SELECT', 'SET']);
      expect(results[2]!.rows).toEqual([{ set_config: 'hex' }]);
      expect(results[2]!.fields.map((f) => [f.name, f.dataTypeID])).toEqual([['set_config', 25]]);
      expectManaged(target, notices, ['client_min_messages', 'bytea_output']);
    });
  });

  it('keeps a multi-statement batch of local and remote statements in order, one result each', async () => {
    await withSession(target.port(), async ({ client, notices }) => {
      const results = await client.query('SET client_min_messages=warning; SELECT 1; SET statement_timeout=5000; SELECT 2') as unknown as pg.QueryResult[];
      expect(results.map((r) => r.command)).toEqual(['SET', 'SELECT', 'SET', 'SELECT']);
      expect(results.map((r) => r.rows)).toEqual([[], [{ '?column?': 1 }], [], [{ '?column?': 2 }]]);
      expectManaged(target, notices, ['client_min_messages', 'statement_timeout'], ['5000']);
      expect(client.getTransactionStatus()).toBe('I');
    });
  });

  it("answers Sequelize's SET client_min_messages and TablePro's SET statement_timeout (and a RESET) with PostgreSQL's tags", async () => {
    await withSession(target.port(), async ({ client, notices }) => {
      const sequelize = await client.query('SET client_min_messages TO warning');
      const tablePro = await client.query('SET statement_timeout = 30000');
      const reset = await client.query('RESET statement_timeout');
      expect([sequelize, tablePro, reset].map((r) => [r.command, r.rows, r.fields])).toEqual([['SET', [], []], ['SET', [], []], ['RESET', [], []]]);
      expectManaged(target, notices, ['client_min_messages', 'statement_timeout', 'statement_timeout'], ['warning', '30000']);
    });
  });

  it('answers SET LOCAL inside a transaction, which stays usable and commits its insert', async () => {
    const table = tableName();
    await withSession(target.port(), async ({ client, notices }) => {
      await client.query(`CREATE TABLE ${table} (n int)`);
      await client.query('BEGIN');
      expect((await client.query("SET LOCAL statement_timeout = '5s'")).command).toBe('SET');
      expect(client.getTransactionStatus()).toBe('T');
      expect((await client.query(`INSERT INTO ${table} VALUES (7)`)).rowCount).toBe(1);
      expect((await client.query('COMMIT')).command).toBe('COMMIT');
      expect((await client.query(`SELECT n FROM ${table}`)).rows).toEqual([{ n: 7 }]);
      await client.query(`DROP TABLE ${table}`);
      expectManaged(target, notices, ['statement_timeout'], ['5s']);
    });
  });

  it('keeps the transaction status true on the wire: T after a SET LOCAL in BEGIN, I after COMMIT', async () => {
    const { raw } = await rawSession(target.port());
    const step = async (sql: string): Promise<string[]> => { raw.send(queryMessage(sql)); return summary(await raw.until('Z')); };
    const steps = [await step('BEGIN'), await step("SET LOCAL statement_timeout = '5s'"), await step('SELECT 1'), await step('COMMIT'),
      await step("BEGIN; SET LOCAL lock_timeout = '1s'"), await step('ROLLBACK')];
    expect(steps.map(withoutManaged)).toEqual([['C:BEGIN', 'Z:T'], ['C:SET', 'Z:T'], ['T', 'D:1', 'C:SELECT 1', 'Z:T'], ['C:COMMIT', 'Z:I'],
      ['C:BEGIN', 'C:SET', 'Z:T'], ['C:ROLLBACK', 'Z:I']]);
    // The proxy's notice comes where PostgreSQL's own would: right before the SET's CommandComplete.
    expect(steps[1]!.length).toBe(target.viaProxy ? 3 : 2);
    raw.socket.end();
  });

  it("runs psql -c 'BEGIN; SET LOCAL lock_timeout; SELECT 1; COMMIT' and warns about a lone SET LOCAL as PostgreSQL does", async () => {
    const inTransaction = await psqlAt(target.port(), ['-A', '-t', '-c', "BEGIN; SET LOCAL lock_timeout='1s'; SELECT 1; COMMIT"]);
    expect(inTransaction.status, inTransaction.stderr).toBe(0);
    expect(inTransaction.stdout).toBe('BEGIN\nSET\n1\nCOMMIT\n');
    expect(splitStderr(inTransaction.stderr)).toEqual({ managed: target.viaProxy ? ['lock_timeout'] : [], other: [] });
    const alone = await psqlAt(target.port(), ['-c', "SET LOCAL statement_timeout = '5s'"]);
    expect(alone.status, alone.stderr).toBe(0);
    expect(alone.stdout).toBe('SET\n');
    expect(splitStderr(alone.stderr)).toEqual({
      managed: target.viaProxy ? ['statement_timeout'] : [], other: ['WARNING:  SET LOCAL can only be used in transaction blocks'],
    });
  });

  it("answers Beekeeper's SELECT pg_backend_pid() AS pid with BackendKeyData's pid as one int4 row", async () => {
    await withSession(target.port(), async ({ client, notices }) => {
      const int4 = { tableID: 0, columnID: 0, dataTypeID: 23, dataTypeSize: 4, dataTypeModifier: -1, format: 'text' };
      const aliased = await client.query('SELECT pg_backend_pid() AS pid');
      expect([aliased.command, aliased.rowCount, aliased.rows, aliased.fields]).toEqual(['SELECT', 1, [{ pid: processId(client) }], [{ name: 'pid', ...int4 }]]);
      const plain = await client.query('SELECT pg_backend_pid()');
      expect([plain.rows, plain.fields]).toEqual([[{ pg_backend_pid: processId(client) }], [{ name: 'pg_backend_pid', ...int4 }]]);
      expect(typeof processId(client)).toBe('number');
      expect(notices).toEqual([]);
    });
  });

  it('lets an allowed SET reach the server: SHOW returns the new value', async () => {
    await withSession(target.port(), async ({ client, notices }) => {
      const batch = await client.query('SET search_path = public, pg_catalog; SHOW search_path') as unknown as pg.QueryResult[];
      expect(batch.map((r) => [r.command, r.rows])).toEqual([['SET', []], ['SHOW', [{ search_path: 'public, pg_catalog' }]]]);
      expect((await client.query("SET application_name='x'")).command).toBe('SET');
      expect((await client.query('SHOW application_name')).rows).toEqual([{ application_name: 'x' }]);
      const mixed = await client.query("SET client_min_messages=warning; SET search_path = pg_catalog; SHOW search_path") as unknown as pg.QueryResult[];
      expect(mixed.map((r) => [r.command, r.rows])).toEqual([['SET', []], ['SET', []], ['SHOW', [{ search_path: 'pg_catalog' }]]]);
      expectManaged(target, notices, ['client_min_messages']);
    });
  });

  it('stops a batch at its remote error as PostgreSQL does: 22012, earlier work rolled back, nothing after it run, the connection idle', async () => {
    const table = tableName();
    await withSession(target.port(), async ({ client, notices }) => {
      const error = await client.query(`CREATE TABLE ${table} (n int); INSERT INTO ${table} VALUES (1); SET client_min_messages=warning; SELECT 1/0; `
        + `SET statement_timeout=1; INSERT INTO ${table} VALUES (2); SELECT 2`).then(() => undefined, (e: pg.DatabaseError) => e);
      expect([error?.code, error?.message]).toEqual(['22012', 'division by zero']);
      expect(client.getTransactionStatus()).toBe('I');
      expect((await client.query('SELECT 3 AS n')).rows).toEqual([{ n: 3 }]);
      expect((await client.query('SELECT to_regclass($1) AS t', [table])).rows).toEqual([{ t: null }]);
      expectManaged(target, notices, ['client_min_messages']); // statement_timeout, after the error, was never answered
    });
    const { raw } = await rawSession(target.port());
    raw.send(queryMessage(`CREATE TABLE ${table} (n int); SET client_min_messages=warning; SELECT 1/0; SET statement_timeout=1; SELECT 2`));
    expect(withoutManaged(summary(await raw.until('Z')))).toEqual(['C:CREATE TABLE', 'C:SET', 'E:22012', 'Z:I']);
    raw.socket.end();
  });

  it('answers a SET in an aborted transaction with 25P02, not a fake SET; ROLLBACK then works', async () => {
    await withSession(target.port(), async ({ client, notices }) => {
      await client.query('BEGIN');
      await expect(client.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
      const error = await client.query('SET client_min_messages=warning').then(() => undefined, (e: pg.DatabaseError) => e);
      expect([error?.code, error?.message]).toEqual(['25P02', 'current transaction is aborted, commands ignored until end of transaction block']);
      expect(client.getTransactionStatus()).toBe('E');
      expect((await client.query('ROLLBACK')).command).toBe('ROLLBACK');
      expect((await client.query('SELECT 4 AS n')).rows).toEqual([{ n: 4 }]);
      expect(notices).toEqual([]);
    });
  });

  it('answers SET and pg_backend_pid() over the extended protocol, prepared statements reused, parameters still working', async () => {
    await withSession(target.port(), async ({ client, notices }) => {
      const extended = { text: 'SET statement_timeout = 5000', queryMode: 'extended' } as pg.QueryConfig;
      const named = await client.query({ text: 'SET statement_timeout = 5000', name: 'timeout' });
      const again = await client.query({ text: 'SET statement_timeout = 5000', name: 'timeout' });
      const unnamed = await client.query(extended);
      expect([named, again, unnamed].map((r) => [r.command, r.rows, r.fields])).toEqual([['SET', [], []], ['SET', [], []], ['SET', [], []]]);
      for (let i = 0; i < 2; i++) {
        const pid = await client.query({ text: 'SELECT pg_backend_pid()', name: 'pid' });
        expect([pid.command, pid.rows, pid.fields[0]!.dataTypeID]).toEqual(['SELECT', [{ pg_backend_pid: processId(client) }], 23]);
      }
      expect((await client.query('SELECT $1::int AS n', [5])).rows).toEqual([{ n: 5 }]);
      expectManaged(target, notices, ['statement_timeout', 'statement_timeout', 'statement_timeout'], ['5000']);
    });
  });

  it('keeps pipelined extended-protocol groups in order: local SET, remote SELECT, local pid in binary, one ReadyForQuery', async () => {
    const { raw, pid } = await rawSession(target.port());
    raw.send(Buffer.concat([
      parse('SET statement_timeout = 5000'), bind(), describePortal(), execute(),
      parse('SELECT 1'), bind(), describePortal(), execute(),
      parse('SELECT pg_backend_pid()'), bind('', [1]), describePortal(), execute(),
      sync(),
    ]));
    const frames = await raw.until('Z');
    const seen = summary(frames);
    const pidRow = frames.filter((f) => f[0] === 0x44)[1]!;
    expect(withoutManaged(seen)).toEqual(['1', '2', 'n', 'C:SET', '1', '2', 'T', 'D:1', 'C:SELECT 1', '1', '2', 'T', expect.stringMatching(/^D:/), 'C:SELECT 1', 'Z:I']);
    expect(pidRow.subarray(7)).toEqual(Buffer.concat([int32(4), int32(pid)])); // one binary int4 column
    // The proxy's notice sits where PostgreSQL sends notices of execution: between NoData and CommandComplete.
    expect(seen.slice(2, 5).map((s) => s.slice(0, 2))).toEqual(target.viaProxy ? ['n', 'N:', 'C:'] : ['n', 'C:', '1']);
    raw.socket.end();
  });
});

describe('with --no-sql-compat', () => {
  let proxy: TestProxy;
  beforeAll(async () => { proxy = await startTestProxy(rig.emulator.port, rig.ca, { sqlCompat: false }); });
  afterAll(async () => { await proxy.proxy.close(); });

  it("passes SET client_min_messages and pg_backend_pid() to DSQL, whose refusals reach the client; the session goes on", async () => {
    await withSession(proxy.port, async ({ client, notices }) => {
      const set = await client.query('SET client_min_messages TO warning').then(() => undefined, (e: pg.DatabaseError) => e);
      expect([set?.code, set?.message]).toEqual(['0A000', 'setting configuration parameter "client_min_messages" not supported']);
      const pid = await client.query('SELECT pg_backend_pid()').then(() => undefined, (e: pg.DatabaseError) => e);
      expect([pid?.code, pid?.message]).toEqual(['0A000', 'function pg_backend_pid not supported']);
      const extended = await client.query({ text: 'SET statement_timeout = 5000', name: 'timeout' }).then(() => undefined, (e: pg.DatabaseError) => e);
      expect(extended?.message).toBe('setting configuration parameter "statement_timeout" not supported');
      expect((await client.query('SELECT 5 AS n')).rows).toEqual([{ n: 5 }]);
      expect(notices).toEqual([]);
    });
  });

  it("fails pgAdmin's connect batch at SET client_min_messages, as Aurora DSQL does", async () => {
    const result = await psqlAt(proxy.port, ['-c', PGADMIN_CONNECT]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('SET\n');
    expect(result.stderr).toBe('ERROR:  setting configuration parameter "client_min_messages" not supported\n');
  });
});

describe('at --log-level debug', () => {
  it('logs each locally answered statement with its kind and parameter, never its value', async () => {
    const logs = new LogCapture();
    const proxy = await startTestProxy(rig.emulator.port, rig.ca, { logLevel: 'debug' }, { logger: createLogger('debug', logs) }, logs);
    try {
      await withSession(proxy.port, async ({ client }) => {
        expect((await client.query("SET statement_timeout = 'secret-ish-123'")).command).toBe('SET');
        expect((await client.query("SELECT set_config('lock_timeout', 'secret-ish-456', false)")).rows).toEqual([{ set_config: 'secret-ish-456' }]);
      });
      await logs.closeLineAt(0);
      const naming = (name: string): Record<string, unknown>[] => logs.lines.filter((l) => l.level === 20 && JSON.stringify(l).includes(name));
      expect(naming('statement_timeout')).toHaveLength(1);
      expect(naming('lock_timeout')).toHaveLength(1);
      expect(JSON.stringify(naming('lock_timeout')[0])).toContain('set_config');
      expect(logs.text).not.toContain('secret-ish');
    } finally {
      await proxy.proxy.close();
    }
  });
});
