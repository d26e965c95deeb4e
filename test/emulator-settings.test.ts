import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCa } from './support/certs.js';
import { loginToEmulator, query, sign, type Login } from './support/emulator-client.js';
import type { DsqlEmulator } from './support/emulator.js';
import { splitStatements } from './support/dsql-sql.js';
import { CLUSTER_HOSTNAME, startEmulator } from './support/harness.js';
import { parseErrorFields } from './support/wire.js';

/**
 * The emulator refuses what Aurora DSQL refuses in a session, as strictly as DSQL and with its messages:
 * SET/RESET of a parameter outside the allowlist, SET ROLE without LOCAL, set_config() of such a parameter,
 * pg_backend_pid(), and (the emulator's strict choice) such a parameter in the StartupMessage.
 */

const PGADMIN_BATCH = "SET DateStyle=ISO; SET client_min_messages=notice; SELECT set_config('bytea_output','hex',false) "
  + "FROM pg_show_all_settings() WHERE name = 'bytea_output'; SET client_encoding='utf-8';";
const refused = (name: string): string => `setting configuration parameter "${name}" not supported`;

let emulator: DsqlEmulator;
let ca: TestCa;
beforeAll(async () => { ({ emulator, ca } = await startEmulator()); });
afterAll(async () => { await emulator?.stop(); });

async function session(): Promise<Login> {
  const login = await loginToEmulator([['user', 'admin'], ['database', 'postgres']], { on: { emulator, ca } });
  expect(login.error).toBeUndefined();
  return login;
}

/** Sends one simple Query and describes the answer up to ReadyForQuery: `C:<tag>`, `D:<first cell>`, `E:<code>:<message>`, `Z:<status>`. */
async function run(login: Login, sql: string): Promise<string[]> {
  login.tls.write(query(sql));
  const seen: string[] = [];
  for (let f = await login.frames.next(); f; f = await login.frames.next()) {
    const type = String.fromCharCode(f[0]!);
    if (type === 'C') seen.push(`C:${f.toString('utf8', 5, f.length - 1)}`);
    if (type === 'D') seen.push(`D:${f.readInt32BE(7) < 0 ? 'NULL' : f.toString('utf8', 11, 11 + f.readInt32BE(7))}`);
    if (type === 'E') {
      const e = parseErrorFields(f);
      seen.push(`E:${e.C}:${e.M}`);
      // DSQL's refusals carry no PostgreSQL context (the emulator's carrier must not show through).
      if (e.C === '0A000') expect(Object.keys(e).sort()).toEqual(['C', 'M', 'S', 'V']);
    }
    if (type === 'Z') { seen.push(`Z:${String.fromCharCode(f[5]!)}`); return seen; }
  }
  throw new Error('connection closed');
}

async function pgClient(extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const client = new pg.Client({
    host: '127.0.0.1', port: emulator.port, user: 'admin', database: 'postgres', password: await sign('admin'),
    ssl: { ca: [ca.cert], servername: CLUSTER_HOSTNAME, checkServerIdentity: () => undefined }, ...extra,
  });
  await client.connect();
  return client;
}

describe('session settings at the emulator, like DSQL', () => {
  it("stops pgAdmin's connect batch at SET client_min_messages with DSQL's error, after SET DateStyle ran", async () => {
    const s = await session();
    expect(await run(s, PGADMIN_BATCH)).toEqual(['C:SET', `E:0A000:${refused('client_min_messages')}`, 'Z:I']);
    expect(s.record.refusals).toEqual([refused('client_min_messages'), refused('bytea_output')]);
    // The implicit transaction was aborted, so even the DateStyle SET that ran is undone, as in PostgreSQL.
    expect(await run(s, 'SHOW DateStyle')).toEqual(['D:ISO, MDY', 'C:SHOW', 'Z:I']);
    s.tls.end();
  });

  it.each([
    ['SET client_min_messages TO warning', 'client_min_messages'], // Sequelize
    ['SET statement_timeout = 5000', 'statement_timeout'], // TablePro and others
    ['set SESSION Lock_Timeout to 10', 'lock_timeout'],
    ['SET "idle_in_transaction_session_timeout" = 0', 'idle_in_transaction_session_timeout'],
    ['RESET statement_timeout', 'statement_timeout'],
    ['RESET ALL', 'all'],
    ['SET ROLE app_reader', 'role'],
    ['SET SESSION ROLE app_reader', 'role'],
    ['RESET ROLE', 'role'],
    ['SET SESSION AUTHORIZATION admin', 'session_authorization'],
    ["SELECT set_config('bytea_output', 'hex', false)", 'bytea_output'],
    ["select pg_catalog.set_config(E'work_mem', '1MB', true)", 'work_mem'],
    ["SELECT set_config('role', 'app_reader', false)", 'role'],
  ])('refuses %s with DSQL\'s message, and nothing changes', async (sql, name) => {
    const s = await session();
    expect(await run(s, sql)).toEqual([`E:0A000:${refused(name)}`, 'Z:I']);
    expect(await run(s, 'SHOW statement_timeout')).toEqual(['D:0', 'C:SHOW', 'Z:I']);
    s.tls.end();
  });

  it('refuses SET LOCAL statement_timeout inside BEGIN and aborts the transaction (status E)', async () => {
    const s = await session();
    expect(await run(s, 'BEGIN')).toEqual(['C:BEGIN', 'Z:T']);
    expect(await run(s, 'SET LOCAL statement_timeout = 5000')).toEqual([`E:0A000:${refused('statement_timeout')}`, 'Z:E']);
    expect((await run(s, 'SELECT 1'))[0]).toMatch(/^E:25P02:/);
    expect(await run(s, 'ROLLBACK')).toEqual(['C:ROLLBACK', 'Z:I']);
    s.tls.end();
  });

  it('refuses pg_backend_pid() wherever it is called, with DSQL\'s message', async () => {
    const s = await session();
    const message = 'E:0A000:function pg_backend_pid not supported';
    expect(await run(s, 'SELECT pg_backend_pid() AS pid')).toEqual([message, 'Z:I']);
    expect(await run(s, 'select 1 from pg_stat_activity where pid = PG_BACKEND_PID ( )')).toEqual([message, 'Z:I']);
    // Not a call: a string, a comment, a column name.
    expect(await run(s, "select 'pg_backend_pid()' /* pg_backend_pid() */ -- pg_backend_pid()\n")).toEqual(['D:pg_backend_pid()', 'C:SELECT 1', 'Z:I']);
    s.tls.end();
  });

  it('lets allowlisted SETs through to PostgreSQL, in every spelling', async () => {
    const s = await session();
    const sets = [
      "SET TIME ZONE 'Europe/Paris'", "SET SCHEMA 'public'", "SET NAMES 'UTF8'", 'SET "DateStyle" TO German',
      "set application_name = 'emu'", 'SET extra_float_digits = 2', 'SET IntervalStyle = iso_8601', 'SET enable_seqscan = off',
      "SELECT set_config('search_path', 'public', false)",
    ];
    for (const sql of sets) expect((await run(s, sql)).at(-2)).toMatch(/^C:(SET|SELECT 1)$/);
    expect(await run(s, 'SHOW TimeZone; SHOW DateStyle; SHOW application_name; SHOW enable_seqscan')).toEqual([
      'D:Europe/Paris', 'C:SHOW', 'D:German, DMY', 'C:SHOW', 'D:emu', 'C:SHOW', 'D:off', 'C:SHOW', 'Z:I',
    ]);
    expect(await run(s, 'RESET TimeZone; RESET enable_seqscan')).toEqual(['C:RESET', 'C:RESET', 'Z:I']);
    expect(s.record.refusals).toBeUndefined();
    s.tls.end();
  });

  it('allows role only with SET LOCAL', async () => {
    const s = await session();
    expect(await run(s, 'BEGIN; SET LOCAL ROLE app_reader; SELECT current_user; COMMIT')).toEqual(['C:BEGIN', 'C:SET', 'D:app_reader', 'C:SELECT 1', 'C:COMMIT', 'Z:I']);
    expect(await run(s, "BEGIN; SELECT set_config('role', 'app_reader', true) IS NOT NULL; ROLLBACK")).toEqual(['C:BEGIN', 'D:t', 'C:SELECT 1', 'C:ROLLBACK', 'Z:I']);
    s.tls.end();
  });

  it('runs the statements of a Query before a refused one, and none after it', async () => {
    const s = await session();
    const sql = "select 'a;b' as x; /* ; /* nested ; */ */ select $q$;$q$; SET work_mem = '1MB'; select 3";
    expect(await run(s, sql)).toEqual(['D:a;b', 'C:SELECT 1', 'D:;', 'C:SELECT 1', `E:0A000:${refused('work_mem')}`, 'Z:I']);
    s.tls.end();
  });

  it('refuses a SET sent over the extended protocol (Parse), from node-postgres', async () => {
    const client = await pgClient();
    try {
      await expect(client.query({ name: 'timeout', text: 'SET statement_timeout = 1' })).rejects.toMatchObject({ code: '0A000', message: refused('statement_timeout') });
      await expect(client.query({ text: "select set_config('lock_timeout', $1, false)", values: ['1s'] })).rejects.toMatchObject({ code: '0A000', message: refused('lock_timeout') });
      expect((await client.query({ name: 'ok', text: 'SET application_name = x' })).command).toBe('SET');
      expect((await client.query('SHOW application_name')).rows).toEqual([{ application_name: 'x' }]);
    } finally {
      await client.end();
    }
  });

  it.each([
    ['statement_timeout', { statement_timeout: 5000 }],
    ['lock_timeout', { lock_timeout: 5000 }],
    ['idle_in_transaction_session_timeout', { idle_in_transaction_session_timeout: 5000 }],
    ['statement_timeout', { options: '-c statement_timeout=5' }],
  ] as const)('refuses a StartupMessage that sets %s (the emulator\'s strict choice) with a FATAL', async (name, extra) => {
    await expect(pgClient(extra)).rejects.toMatchObject({ code: '0A000', message: refused(name), severity: 'FATAL' });
    expect(emulator.records.at(-1)).toMatchObject({ authenticated: true, rejection: refused(name) });
  });

  it('accepts the startup parameters libpq and pgJDBC send', async () => {
    const client = await pgClient({
      application_name: 'emu-test', client_encoding: 'UTF8', options: '-c DateStyle=ISO -c TimeZone=UTC -c extra_float_digits=3 --search-path=public',
    });
    expect((await client.query('SHOW TimeZone')).rows).toEqual([{ TimeZone: 'UTC' }]);
    await client.end();
  });
});

describe("the emulator's SQL splitter", () => {
  it('splits on top-level semicolons only, respecting quotes, dollar quotes and nested comments', () => {
    const sql = "a ';' ; b E'\\';' ; \"c;\" ; $t$ ; $x$ $t$ ; -- ;\n d /* ; /* ; */ ; */ ;;";
    expect(splitStatements(sql).map((s) => sql.slice(s.start, s.end))).toEqual(["a ';'", "b E'\\';'", '"c;"', '$t$ ; $x$ $t$', 'd']);
  });
});
