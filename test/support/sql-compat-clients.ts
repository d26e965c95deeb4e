import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { expect } from 'vitest';
import { clientEnv, runTool, type ToolResult } from './harness.js';
import { RawClient } from './raw-client.js';
import { cstring, int16, int32, message, parseErrorFields, startupMessage } from './wire.js';

/**
 * Clients for the SQL compatibility layer's end-to-end tests (test/e2e/sql-compat.test.ts): node-postgres with its
 * notices collected, psql, and a raw wire session, each pointed at a port that is either PostgreSQL itself or the
 * proxy, so that one scenario runs against both and the results can be held to the same assertions.
 */

/** The fields of a NoticeResponse node-postgres reports. */
export interface Notice {
  readonly message?: string;
  readonly severity?: string;
  readonly detail?: string;
  readonly hint?: string;
}

/** The pid node-postgres read from BackendKeyData (public on the client, missing from its types). */
export const processId = (client: pg.Client): number => (client as pg.Client & { processID: number }).processID;

/** A node-postgres client and the notices it has received. */
export interface Session {
  readonly client: pg.Client;
  readonly notices: Notice[];
}

/** Connects node-postgres to `port` as admin, collecting its notices. */
export async function connect(port: number): Promise<Session> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'admin', database: 'postgres', ssl: false });
  const notices: Notice[] = [];
  client.on('notice', (notice) => notices.push(notice));
  await client.connect();
  return { client, notices };
}

/** Runs `body` with a fresh session at `port`, ending it afterwards. */
export async function withSession<T>(port: number, body: (s: Session) => Promise<T>): Promise<T> {
  const session = await connect(port);
  try { return await body(session); } finally { await session.client.end(); }
}

/** The proxy's notice for a statement it answered itself (src/compat/answers.ts); group 1 is the parameter. */
export const MANAGED = /^Aurora DSQL manages parameter "([^"]+)": dsql-proxy answered this (SET|RESET|set_config) without sending it$/;

/**
 * The parameters the notices say the proxy answered for: exactly `names` through the proxy, none from PostgreSQL.
 * No notice may carry a value the statements set.
 */
export function expectManaged(target: { readonly viaProxy: boolean }, notices: readonly Notice[], names: readonly string[], values: readonly string[] = []): void {
  expect(notices.map((n) => MANAGED.exec(n.message ?? '')?.[1] ?? n.message)).toEqual(target.viaProxy ? names : []);
  for (const notice of notices) {
    expect(notice.severity).toBe('NOTICE');
    for (const value of values) expect(`${notice.message} ${notice.detail ?? ''} ${notice.hint ?? ''}`).not.toContain(value);
  }
}

/** psql -X against `port` (one -c is one Query message). */
export function psqlAt(port: number, args: string[]): Promise<ToolResult> {
  return runTool('psql', ['-X', '-d', `host=127.0.0.1 port=${port} user=admin dbname=postgres`, ...args], { env: clientEnv() });
}

/** psql's stderr split into the proxy's NOTICE lines (with their HINT) and everything else. */
export function splitStderr(stderr: string): { managed: string[]; other: string[] } {
  const managed: string[] = [];
  const other: string[] = [];
  let afterManaged = false;
  for (const line of stderr.split('\n').filter(Boolean)) {
    const notice = /^NOTICE: {2}(.*)$/.exec(line);
    if (notice && MANAGED.test(notice[1]!)) { managed.push(MANAGED.exec(notice[1]!)![1]!); afterManaged = true; continue; }
    if (afterManaged && line.startsWith('HINT:  ')) continue;
    afterManaged = false;
    other.push(line);
  }
  return { managed, other };
}

/** A raw protocol session after login, and the pid its BackendKeyData named. */
export async function rawSession(port: number): Promise<{ raw: RawClient; pid: number }> {
  const raw = await RawClient.connect(port);
  raw.send(startupMessage([['user', 'admin'], ['database', 'postgres']]));
  const login = await raw.until('Z');
  const key = login.find((f) => f[0] === 0x4b);
  if (!key) throw new Error('no BackendKeyData');
  return { raw, pid: key.readInt32BE(5) };
}

/** Frames as short strings: C:tag, E:SQLSTATE, Z:status, D:first value (text), N:message; others by type. */
export function summary(frames: readonly Buffer[]): string[] {
  return frames.map((f) => {
    const type = String.fromCharCode(f[0]!);
    if (type === 'C') return `C:${f.toString('utf8', 5, f.length - 1)}`;
    if (type === 'Z') return `Z:${String.fromCharCode(f[5]!)}`;
    if (type === 'E') return `E:${parseErrorFields(f).C}`;
    if (type === 'N') return `N:${parseErrorFields(f).M}`;
    if (type === 'D') return f.readInt32BE(7) < 0 ? 'D:null' : `D:${f.toString('utf8', 11, 11 + f.readInt32BE(7))}`;
    return type;
  });
}

/** `summary` without the proxy's notices, which are all PostgreSQL lacks. */
export const withoutManaged = (s: readonly string[]): string[] => s.filter((x) => !(x.startsWith('N:') && MANAGED.test(x.slice(2))));

/** Parse of `sql` into statement `name` (protocol docs, "Message Formats"), no parameter types. */
export const parse = (sql: string, name = ''): Buffer => message('P', cstring(name), cstring(sql), int16(0));
/** Bind of `statement` to the unnamed portal, no parameters, with the given result format codes. */
export const bind = (statement = '', resultFormats: number[] = []): Buffer =>
  message('B', cstring(''), cstring(statement), int16(0), int16(0), int16(resultFormats.length), ...resultFormats.map(int16));
/** Describe of the unnamed portal. */
export const describePortal = (): Buffer => message('D', Buffer.from('P'), cstring(''));
/** Execute of the unnamed portal, all rows. */
export const execute = (): Buffer => message('E', cstring(''), int32(0));
/** Sync. */
export const sync = (): Buffer => message('S');

/** A table name no other run uses (the emulator relays to the same PostgreSQL the direct clients use). */
export const tableName = (): string => `sql_compat_${randomBytes(4).toString('hex')}`;
