import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { clientEnv, runTool } from './harness.js';

/** The pgJDBC driver: Debian's libpostgresql-jdbc-java unless DSQL_PROXY_TEST_JDBC_JAR names another jar. */
export const JDBC_JAR = process.env.DSQL_PROXY_TEST_JDBC_JAR ?? '/usr/share/java/postgresql.jar';

/** The single-file Java program that runs one statement (java's source launcher compiles it at each start). */
const PROGRAM = fileURLToPath(new URL('./jdbc/Query.java', import.meta.url));

/** What to run through pgJDBC. */
export interface JdbcQuery {
  /** e.g. `jdbc:postgresql://localhost:5432/postgres` (see jdbcUrl). */
  readonly url: string;
  /** Connection properties (user, password, ssl, sslmode, sslrootcert, sslcert, sslkey, …); no newlines. */
  readonly properties?: Readonly<Record<string, string>>;
  readonly sql: string;
  /** The JVM is killed and the call fails after this long; 30 s unless set. */
  readonly timeoutMs?: number;
}

/** How the program ended: code 0 with the first column in stdout, or 1 with `SQLSTATE <state>: <message>` in stderr. */
export interface JdbcResult {
  readonly code: number;
  /** The first column of the first row, as getString gives it ("null" for NULL), trimmed; empty without rows. */
  readonly stdout: string;
  /** Trimmed; on failure its first line is `SQLSTATE <state>: <message>`, then one `caused by` line per cause. */
  readonly stderr: string;
}

/** True under CI, where a missing JDK or driver must fail the tests instead of skipping them. */
export const UNDER_CI = !!process.env.CI && !/^(false|0)$/i.test(process.env.CI);

let available: boolean | undefined;

/**
 * Whether pgJDBC can run here: the driver jar exists and `java` has the jdk.compiler module its source launcher
 * needs (Debian's openjdk-17-jre-headless ships it; a jlink'ed runtime may not).
 */
export function jdbcAvailable(): boolean {
  if (available === undefined) {
    const modules = existsSync(JDBC_JAR) ? spawnSync('java', ['--list-modules'], { encoding: 'utf8' }) : undefined;
    available = modules?.status === 0 && /^jdk\.compiler@/m.test(modules.stdout);
  }
  return available;
}

/** Skip pgJDBC tests only where the JDK or driver really is absent and this is not CI (`it.skipIf(SKIP_JDBC)`). */
export const SKIP_JDBC = !UNDER_CI && !jdbcAvailable();

/** A pgJDBC URL for `host` (IPv6 literals bracketed) and `port`. */
export function jdbcUrl(host: string, port: number, database = 'postgres'): string {
  return `jdbc:postgresql://${host.includes(':') ? `[${host}]` : host}:${port}/${database}`;
}

/** Runs `sql` through pgJDBC in a fresh JVM (about a second each: see the e2e harness test) and reports how it ended. */
export async function jdbcQuery({ url, properties = {}, sql, timeoutMs = 30_000 }: JdbcQuery): Promise<JdbcResult> {
  if (!jdbcAvailable()) {
    throw new Error(`pgJDBC cannot run: needs ${JDBC_JAR} and a java with the jdk.compiler module `
      + '(apt-get install -y libpostgresql-jdbc-java default-jre-headless; .ci/run installs them)');
  }
  const lines = Object.entries(properties).map(([key, value]) => {
    if (/[=\r\n]/.test(key) || /[\r\n]/.test(value)) throw new Error(`JDBC property ${JSON.stringify(key)}: no '=' in a key, no newline in a key or value`);
    return `${key}=${value}\n`;
  });
  // Tiered level 1 and the serial collector: a run this short is all start-up, and those shave it. Without the
  // JAVA_*OPTIONS variables, whose "Picked up …" notice would stand before the SQLSTATE line on stderr.
  const result = await runTool('java', ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-cp', JDBC_JAR, PROGRAM, url, sql],
    { input: lines.join(''), timeoutMs, env: { ...clientEnv(), JAVA_TOOL_OPTIONS: undefined, JDK_JAVA_OPTIONS: undefined, _JAVA_OPTIONS: undefined } });
  if (result.status === null) throw new Error(`pgJDBC was killed after ${timeoutMs} ms without an answer: ${result.stderr.trim()}`);
  return { code: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}
