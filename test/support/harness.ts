import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, inject } from 'vitest';
import pg from 'pg';
import { resolveConfig, type RawOptions } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { startProxy, type ProxyOverrides, type RunningProxy } from '../../src/run.js';
import { issueServerCert, makeCa, type TestCa } from './certs.js';
import { DsqlEmulator, type EmulatorOptions } from './emulator.js';

/** Fixed names of the emulated cluster. */
export const REGION = 'us-east-1';
export const SERVICE_ID = 'dsql-test1';
export const CLUSTER_ID = 'abcdefghijklmnopqrstuvwxyz';
/** The name the emulator's certificate covers for the cluster. */
export const CLUSTER_HOSTNAME = `${CLUSTER_ID}.${SERVICE_ID}.${REGION}.on.aws`;
/** A realistic endpoint name, resolved to 127.0.0.1 by the tests' injected resolver. */
export const VPCE_NAME = `vpce-0123456789abcdef0-abcdefgh.${SERVICE_ID}.${REGION}.vpce.amazonaws.com`;

/** Test-only AWS credentials; the emulator knows the secret. */
export const TEST_CREDENTIALS = {
  accessKeyId: 'AKIDDSQLPROXYTEST0001',
  secretAccessKey: 'dsqlproxyTestSecretKey/DoNotUse+0000000000',
} as const;

/** Strings that must never appear in logs or client-visible errors. */
export const SECRET_MARKERS = ['X-Amz-Signature', 'X-Amz-Credential', 'X-Amz-Security-Token', TEST_CREDENTIALS.secretAccessKey];

/** Fails the test if `text` carries a token or credential fragment. */
export function expectNoSecrets(text: string): void {
  for (const marker of SECRET_MARKERS) expect(text, `found ${marker}`).not.toContain(marker);
}

/** The PostgreSQL started by the global setup. */
export function postgres(): { host: string; port: number; adminUser: string } {
  return inject('postgres');
}

/** Starts an emulator with a fresh CA and a certificate for the cluster's names. */
export async function startEmulator(options: Partial<EmulatorOptions> & { certNames?: string[] } = {}): Promise<{ emulator: DsqlEmulator; ca: TestCa }> {
  const ca = makeCa();
  const identity = issueServerCert(ca, options.certNames ?? [`*.${SERVICE_ID}.${REGION}.on.aws`, `*.dsql.${REGION}.on.aws`]);
  const emulator = new DsqlEmulator({
    postgres: postgres(),
    identity,
    region: REGION,
    serviceIdentifier: SERVICE_ID,
    clusters: [CLUSTER_ID],
    secrets: new Map([[TEST_CREDENTIALS.accessKeyId, TEST_CREDENTIALS.secretAccessKey]]),
    ...options,
  });
  await emulator.start();
  return { emulator, ca };
}

/**
 * Log lines captured from an in-process proxy at trace level. With `retain` false (long runs) it keeps only
 * the lines of connections still open, every error-level line, and the first line carrying a secret.
 */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  readonly errors: Record<string, unknown>[] = [];
  readonly open = new Map<unknown, Record<string, unknown>[]>();
  secretLine: string | undefined;
  text = '';

  constructor(private readonly retain = true) {
    super();
  }

  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    const s = chunk.toString();
    if (this.retain) this.text += s;
    for (const text of s.split('\n')) {
      if (!text.trim()) continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      if (SECRET_MARKERS.some((m) => text.includes(m))) this.secretLine ??= text;
      if ((line.level as number) >= 50) this.errors.push(line);
      if (this.retain) this.lines.push(line);
      else if (line.conn !== undefined) {
        if (line.msg === 'connection closed') this.open.delete(line.conn);
        else this.open.set(line.conn, [...(this.open.get(line.conn) ?? []), line]);
      }
    }
    callback();
  }

  /** Lines whose msg equals `msg`. */
  withMessage(msg: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l.msg === msg);
  }

  /** How many connections have logged their close line so far. */
  get closeCount(): number {
    return this.withMessage('connection closed').length;
  }

  /**
   * The close line of the `index`-th connection to end (0-based), waiting up to two seconds for it: the relay logs
   * it once both sockets have closed, after the client may already have exited.
   */
  async closeLineAt(index: number): Promise<Record<string, unknown> | undefined> {
    for (let i = 0; i < 100 && this.closeCount <= index; i++) await new Promise((r) => setTimeout(r, 20));
    return this.withMessage('connection closed')[index];
  }

  /**
   * The first close line from the `from`-th on whose fields equal `fields`, waiting up to two seconds: for when an
   * earlier connection may still be closing and log its line in between.
   */
  async closeLineWith(from: number, fields: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
    const find = (): Record<string, unknown> | undefined => this.withMessage('connection closed').slice(from)
      .find((line) => Object.entries(fields).every(([key, value]) => line[key] === value));
    for (let i = 0; i < 100 && !find(); i++) await new Promise((r) => setTimeout(r, 20));
    return find();
  }
}

/** An in-process proxy pointed at an emulator, with test credentials and captured logs. */
export interface TestProxy {
  readonly proxy: RunningProxy;
  readonly port: number;
  readonly logs: LogCapture;
}

/** Starts the proxy in-process (real dialer, real signer) against `emulatorPort`. */
export async function startTestProxy(
  emulatorPort: number, ca: TestCa, raw: Partial<RawOptions> = {}, overrides: ProxyOverrides = {}, logs = new LogCapture(),
): Promise<TestProxy> {
  const config = resolveConfig({
    clusterId: CLUSTER_ID,
    endpoint: `127.0.0.1:${emulatorPort}`,
    region: REGION,
    serviceIdentifier: SERVICE_ID,
    caFile: ca.certFile,
    listen: '127.0.0.1:0',
    logLevel: 'trace',
    connectTimeout: 5,
    ...raw,
  });
  const proxy = await startProxy(config, {
    logger: createLogger('trace', logs),
    credentials: async () => ({ ...TEST_CREDENTIALS }),
    ...overrides,
  });
  return { proxy, port: proxy.address.port, logs };
}

/**
 * Environment for child processes: no inherited PG*, AWS_* or DSQL_PROXY_* settings (a developer's real
 * credentials or region must never leak into a test), no password.
 */
export function clientEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(PG|AWS_|DSQL_PROXY_)/.test(k)) env[k] = v;
  env.AWS_EC2_METADATA_DISABLED = 'true';
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  return { ...env, PGCONNECT_TIMEOUT: '20', PGAPPNAME: 'dsql-proxy-test', ...extra };
}

/** What a finished client process printed. */
export interface ToolResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a client tool asynchronously (the proxy under test may live in this process, so a
 * synchronous spawn would block it) and collects its output.
 */
export function runTool(command: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? clientEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.once('error', reject);
    child.once('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
    child.stdin.end(options.input ?? '');
  });
}

/** The libpq connection string of the proxy for `user`. */
export function conninfo(port: number, user = 'admin'): string {
  return `host=127.0.0.1 port=${port} user=${user} dbname=postgres`;
}

/** Runs psql against the proxy; -X and ON_ERROR_STOP so failures show in the exit status. */
export function psql(port: number, args: string[], options: { user?: string; input?: string; conninfo?: string } = {}): Promise<ToolResult> {
  return runTool('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-d', options.conninfo ?? conninfo(port, options.user), ...args],
    options.input === undefined ? {} : { input: options.input });
}

/** A node-postgres client connected through the proxy. */
export async function pgClient(port: number, user = 'admin'): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port, user, database: 'postgres', ssl: false });
  client.on('error', () => undefined); // a dropped idle connection is asserted by the tests that cause it
  await client.connect();
  return client;
}

/** Connects with node-postgres and returns the error it fails with (or throws if it connects). */
export async function connectError(port: number, user = 'admin'): Promise<Error & { code?: string; hint?: string; severity?: string }> {
  const client = new pg.Client({ host: '127.0.0.1', port, user, database: 'postgres', ssl: false });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    const e = error as Error & { code?: string; hint?: string };
    expectNoSecrets(`${e.message} ${e.hint ?? ''}`); // nothing a client is told may carry a token or a key
    return e;
  }
  await client.end();
  throw new Error('expected the connection to fail');
}

/** A dsql-proxy CLI process. */
export interface ProxyProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs bin/dsql-proxy.js with `args`, waits for the "listening" line and returns the bound port. */
export function spawnProxy(args: string[], env: Record<string, string>): Promise<ProxyProcess> {
  const child = spawn(process.execPath, ['bin/dsql-proxy.js', '--listen', '127.0.0.1:0', '--log-level', 'trace', ...args], {
    env: {
      PATH: process.env.PATH ?? '', HOME: '/nonexistent',
      AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent/config', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /"listen":"[^"]*:(\d+)"/.exec(stderr);
      if (match) {
        resolve({
          child, port: Number(match[1]), stderr: () => stderr,
          stop: (signal = 'SIGTERM') => { child.kill(signal); return exited; },
        });
      }
    });
    void exited.then((code) => reject(new Error(`dsql-proxy exited with ${code}: ${stderr}`)));
  });
}

/** An emulator and (optionally) an in-process proxy shared by one test file. */
export interface Rig {
  emulator: DsqlEmulator;
  ca: TestCa;
  proxy: TestProxy;
}

/**
 * Registers hooks that start an emulator (and, unless `proxy` is false, a proxy in front of it) before the
 * file's tests and stop them after, checking the proxy's logs for secrets. Fields are set once beforeAll ran.
 */
export function useRig(options: { proxy?: boolean } = {}): Rig {
  const rig = {} as Rig;
  beforeAll(async () => {
    Object.assign(rig, await startEmulator());
    if (options.proxy !== false) rig.proxy = await startTestProxy(rig.emulator.port, rig.ca);
  });
  afterAll(async () => {
    if (rig.proxy) {
      await rig.proxy.proxy.close();
      expectNoSecrets(rig.proxy.logs.text);
    }
    await rig.emulator?.stop();
  });
  return rig;
}

/** A node-postgres client straight to the test PostgreSQL, bypassing proxy and emulator. */
export async function directClient(): Promise<pg.Client> {
  const { host, port, adminUser } = postgres();
  const client = new pg.Client({ host, port, user: adminUser, database: 'postgres' });
  await client.connect();
  return client;
}

/** Waits until PostgreSQL reports `sql` as an active query (for cancel tests). */
export async function waitForActiveQuery(sql: string, timeoutMs = 15_000): Promise<void> {
  const direct = await directClient();
  try {
    const started = Date.now();
    for (;;) {
      const { rowCount } = await direct.query("select 1 from pg_stat_activity where query = $1 and state = 'active'", [sql]);
      if (rowCount) return;
      if (Date.now() - started > timeoutMs) throw new Error(`query never became active: ${sql}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await direct.end();
  }
}
