import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientEnv, expectNoSecrets, postgres, runTool, startTestProxy, useRig, type TestProxy } from '../support/harness.js';
import { UNDER_CI } from '../support/jdbc.js';

/**
 * pgAdmin 4 connects with psycopg 3 (Debian's python3-psycopg), so its driver is run here for real: the same
 * messages, in the same protocol, as pgAdmin sends them, through the proxy to the emulator (which refuses what
 * Aurora DSQL refuses), and straight to PostgreSQL to prove the script itself.
 */

/** The first interpreter that imports psycopg: python3 on PATH, or Debian's, where apt installs python3-psycopg. */
function findPython(): string | undefined {
  return ['python3', '/usr/bin/python3'].find((python) => spawnSync(python, ['-c', 'import psycopg'], { stdio: 'ignore' }).status === 0);
}
const PYTHON = findPython();
// Skipped only where psycopg really is absent and this is not CI; under CI the tests run and fail (see run()).
const SKIP = PYTHON === undefined && !UNDER_CI;
if (SKIP) console.warn('compat-psycopg.test.ts skipped: psycopg 3 is not installed (apt-get install -y python3-psycopg)');

/**
 * Mode "pgadmin": what pgAdmin 4's psycopg3 driver does on connect (web/pgadmin/utils/driver/psycopg3/connection.py,
 * Connection.connect and _initialize): connect, register a notice handler, autocommit on, then one execute() of the
 * settings batch with no parameters, which psycopg sends as one simple Query; any error there (or in SELECT
 * version()) makes pgAdmin close the connection. The batch reads pg_show_all_settings() since pgAdmin 8.12
 * (pgadmin4 pull 7870; pg_settings before) and sets client_encoding to 'utf-8' for a UTF8 database (encoding.py).
 * Then the catalog reads whose errors pgAdmin only logs: pg_database, pg_stat_gssapi (server 12+, only after the
 * pg_database read succeeded) and the role, reformatted here. SET ROLE runs only when a role is configured (not here).
 * Mode "pid": pg_backend_pid() in a simple Query and over the extended protocol (binary results force Parse/Bind),
 * and a bound parameter. Connection settings come from libpq's PG* variables; prints one JSON object; exits 1 when
 * a step fails that the client cannot go on without.
 */
const SCRIPT = String.raw`
import json, sys
import psycopg

BATCH = ("SET DateStyle=ISO; SET client_min_messages=notice; SELECT set_config('bytea_output','hex',false) "
         "FROM pg_show_all_settings() WHERE name = 'bytea_output'; SET client_encoding='utf-8';")
DATABASE = """SELECT db.oid AS did, db.datname, db.datallowconn, pg_encoding_to_char(db.encoding) AS serverencoding,
  has_database_privilege(db.oid, 'CREATE') AS cancreate, datistemplate
FROM pg_catalog.pg_database db WHERE db.datname = current_database()"""
GSSAPI = "SELECT gss_authenticated, encrypted FROM pg_catalog.pg_stat_gssapi WHERE pid = pg_backend_pid()"
ROLE = """SELECT roles.oid AS id, roles.rolname AS name, roles.rolsuper AS is_superuser,
  CASE WHEN roles.rolsuper THEN true ELSE roles.rolcreaterole END AS can_create_role,
  CASE WHEN roles.rolsuper THEN true ELSE roles.rolcreatedb END AS can_create_db,
  CASE WHEN 'pg_signal_backend' = ANY(ARRAY(WITH RECURSIVE cte AS (
      SELECT pg_roles.oid, pg_roles.rolname FROM pg_roles WHERE pg_roles.oid = roles.oid
      UNION ALL
      SELECT m.roleid, pgr.rolname FROM cte cte_1
        JOIN pg_auth_members m ON m.member = cte_1.oid JOIN pg_roles pgr ON pgr.oid = m.roleid)
    SELECT rolname FROM cte)) THEN true ELSE false END AS can_signal_backend
FROM pg_catalog.pg_roles AS roles WHERE rolname = current_user"""

out = {"notices": [], "tolerated": []}

def finish(code):
    print(json.dumps(out, default=str))
    sys.exit(code)

def on_notice(diag):
    out["notices"].append({"severity": diag.severity_nonlocalized, "sqlstate": diag.sqlstate,
                           "message": diag.message_primary, "hint": diag.message_hint})

def run(cur, step, sql, params=None, tolerated=False, **options):
    """Every result of one execute() as {status, rows}; a failure ends the script unless pgAdmin tolerates it."""
    try:
        cur.execute(sql, params, **options)
    except psycopg.Error as e:
        error = {"step": step, "sqlstate": e.sqlstate, "message": e.diag.message_primary}
        if not tolerated:
            out["failed"] = error
            finish(1)
        out["tolerated"].append(error)
        return None
    results = []
    while True:
        results.append({"status": cur.statusmessage, "rows": [list(r) for r in cur.fetchall()] if cur.description else None})
        if not cur.nextset():
            return results

try:
    conn = psycopg.connect("")
except psycopg.Error as e:
    out["failed"] = {"step": "connect", "sqlstate": e.sqlstate, "message": str(e).strip()}
    finish(1)
conn.add_notice_handler(on_notice)
conn.autocommit = True
cur = conn.cursor()
if sys.argv[1] == "pgadmin":
    # pgAdmin encodes every query to bytes before execute().
    out["batch"] = run(cur, "connect batch", BATCH.encode())
    out["version"] = run(cur, "version", b"SELECT version()")[0]["rows"][0][0]
    if run(cur, "database", DATABASE.encode(), tolerated=True) and conn.info.server_version >= 120000:
        run(cur, "gssapi", GSSAPI.encode(), tolerated=True)
    run(cur, "role", ROLE.encode(), tolerated=True)
    out["query"] = run(cur, "query", b"SELECT n, n * n AS square FROM generate_series(1, 3) AS n ORDER BY n")
else:
    out["backend_pid"] = conn.info.backend_pid
    out["pid_simple"] = run(cur, "pid", "SELECT pg_backend_pid()")
    out["pid_extended"] = run(cur, "pid over the extended protocol", "SELECT pg_backend_pid()", binary=True)
    out["bound"] = run(cur, "bound parameter", "SELECT %s::int AS one", [1])
conn.close()
finish(0)
`;

/** What the script printed. */
interface Step { readonly step: string; readonly sqlstate: string | null; readonly message: string }
interface Result { readonly status: string; readonly rows: unknown[][] | null }
interface Report {
  readonly notices: { severity: string; sqlstate: string; message: string; hint: string | null }[];
  readonly tolerated: Step[];
  readonly failed?: Step;
  readonly batch?: Result[];
  readonly version?: string;
  readonly query?: Result[];
  readonly backend_pid?: number;
  readonly pid_simple?: Result[];
  readonly pid_extended?: Result[];
  readonly bound?: Result[];
}

const rig = useRig({ proxy: false });
let scriptDir: string;
beforeAll(() => {
  scriptDir = mkdtempSync(join(tmpdir(), 'dsql-proxy-psycopg-'));
  writeFileSync(join(scriptDir, 'pgadmin_connect.py'), SCRIPT);
});
afterAll(() => { if (scriptDir) rmSync(scriptDir, { recursive: true, force: true }); });

/** Runs the script in `mode` against host:port as `user` (no password: the proxy signs the token) and checks its exit code. */
async function run(mode: 'pgadmin' | 'pid', port: number, expectedStatus: 0 | 1, host = '127.0.0.1', user = 'admin'): Promise<Report> {
  if (!PYTHON) throw new Error('psycopg 3 is not importable by python3 or /usr/bin/python3: install python3-psycopg (.ci/run does)');
  const result = await runTool(PYTHON, [join(scriptDir, 'pgadmin_connect.py'), mode], {
    // pgAdmin names its connections "pgAdmin 4 - <conn id>" through PGAPPNAME.
    env: clientEnv({ PGHOST: host, PGPORT: String(port), PGUSER: user, PGDATABASE: 'postgres', PGAPPNAME: 'pgAdmin 4 - DB:postgres' }),
  });
  expectNoSecrets(result.stdout + result.stderr);
  expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(expectedStatus);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Report;
}

/** The four results of pgAdmin's batch, as PostgreSQL gives them. */
const BATCH_RESULTS: Result[] = [
  { status: 'SET', rows: null }, { status: 'SET', rows: null }, { status: 'SELECT 1', rows: [['hex']] }, { status: 'SET', rows: null },
];
const QUERY_RESULT: Result[] = [{ status: 'SELECT 3', rows: [[1, 1], [2, 4], [3, 9]] }];
const refused = (name: string): string => `setting configuration parameter "${name}" not supported`;
const PID_REFUSED = 'function pg_backend_pid not supported';

/** Runs `body` with a proxy in front of the emulator, then checks its logs for secrets. */
async function withProxy(sqlCompat: boolean, body: (proxy: TestProxy) => Promise<void>): Promise<void> {
  const proxy = await startTestProxy(rig.emulator.port, rig.ca, { sqlCompat });
  try {
    await body(proxy);
  } finally {
    await proxy.proxy.close();
    expectNoSecrets(proxy.logs.text);
  }
}

describe.skipIf(SKIP)('pgAdmin 4 on psycopg 3 (python3-psycopg)', () => {
  it("completes pgAdmin's connect sequence through the proxy: client_min_messages and bytea_output answered locally, with notices naming the parameter, never the value", async () => {
    await withProxy(true, async (proxy) => {
      const report = await run('pgadmin', proxy.port, 0);
      expect(report.batch).toEqual(BATCH_RESULTS);
      expect(report.version).toMatch(/^PostgreSQL \d+/);
      // pgAdmin only logs this one: DSQL refuses pg_backend_pid() inside a larger query, which the proxy does not answer.
      expect(report.tolerated).toEqual([{ step: 'gssapi', sqlstate: '0A000', message: PID_REFUSED }]);
      expect(report.query).toEqual(QUERY_RESULT);
      const messages = report.notices.map((n) => n.message);
      expect(messages.some((m) => m.includes('"client_min_messages"')), messages.join('\n')).toBe(true);
      expect(messages.some((m) => m.includes('"bytea_output"')), messages.join('\n')).toBe(true);
      for (const notice of report.notices) {
        expect(notice).toMatchObject({ severity: 'NOTICE', sqlstate: '00000' });
        expect(`${notice.message} ${notice.hint ?? ''}`).not.toMatch(/\bnotice\b|\bhex\b/i);
      }
      // Neither managed SET reached DSQL: the emulator refused nothing but the pg_backend_pid() call above.
      expect(rig.emulator.records.at(-1)!.refusals).toEqual([PID_REFUSED]);
    });
  });

  it("answers SELECT pg_backend_pid() with the BackendKeyData pid psycopg holds, in a simple Query and over the extended protocol; a bound parameter still reaches DSQL", async () => {
    await withProxy(true, async (proxy) => {
      const report = await run('pid', proxy.port, 0);
      expect(report.backend_pid).toBeGreaterThan(0);
      const pid: Result[] = [{ status: 'SELECT 1', rows: [[report.backend_pid]] }];
      expect(report.pid_simple).toEqual(pid);
      expect(report.pid_extended).toEqual(pid);
      expect(report.bound).toEqual([{ status: 'SELECT 1', rows: [[1]] }]);
      expect(report.notices).toEqual([]);
      expect(rig.emulator.records.at(-1)!.refusals).toBeUndefined();
    });
  });

  it("with --no-sql-compat fails pgAdmin's connect batch with DSQL's message for client_min_messages, and pg_backend_pid() with DSQL's refusal", async () => {
    await withProxy(false, async (proxy) => {
      const pgadmin = await run('pgadmin', proxy.port, 1);
      expect(pgadmin.failed).toEqual({ step: 'connect batch', sqlstate: '0A000', message: refused('client_min_messages') });
      expect(pgadmin.notices).toEqual([]);
      const pid = await run('pid', proxy.port, 1);
      expect(pid.failed).toEqual({ step: 'pid', sqlstate: '0A000', message: PID_REFUSED });
    });
  });

  it('the script works against PostgreSQL itself, where every statement it sends is legal', async () => {
    const { host, port, adminUser } = postgres();
    const pgadmin = await run('pgadmin', port, 0, host, adminUser);
    expect(pgadmin.batch).toEqual(BATCH_RESULTS);
    expect(pgadmin.version).toMatch(/^PostgreSQL \d+/);
    expect(pgadmin.tolerated).toEqual([]);
    expect(pgadmin.query).toEqual(QUERY_RESULT);
    expect(pgadmin.notices).toEqual([]);
    const pid = await run('pid', port, 0, host, adminUser);
    const expected: Result[] = [{ status: 'SELECT 1', rows: [[pid.backend_pid]] }];
    expect(pid.backend_pid).toBeGreaterThan(0);
    expect(pid.pid_simple).toEqual(expected);
    expect(pid.pid_extended).toEqual(expected);
    expect(pid.bound).toEqual([{ status: 'SELECT 1', rows: [[1]] }]);
  });
});
