/** Shared set-up of the bastion review suites: a local TLS identity, a client CA, auth files, and a proxy wrapper. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { issueLocalServerCert, makeCa, type TestCa } from '../support/certs.js';
import { clientEnv, expectNoSecrets, runTool, startTestProxy, type Rig, type TestProxy } from '../support/harness.js';

/** The password every review role has. */
export const PASSWORD = 'review-password';

/** What each review suite gets: a scratch directory, the local CA and the proxy's certificate files. */
export interface ReviewFiles {
  dir: string;
  localCa: TestCa;
  otherCa: TestCa;
  certFile: string;
  keyFile: string;
}

/** Registers the suite's set-up and clean-up; the returned object is filled in before the tests run. */
export function useReviewFiles(): ReviewFiles {
  const files = {} as ReviewFiles;
  beforeAll(() => {
    files.dir = mkdtempSync(join(tmpdir(), 'dsql-proxy-review-'));
    files.localCa = makeCa('review local CA');
    files.otherCa = makeCa('review other CA');
    ({ certFile: files.certFile, keyFile: files.keyFile } = issueLocalServerCert(files.localCa));
  });
  afterAll(() => { rmSync(files.dir, { recursive: true, force: true }); });
  return files;
}

/**
 * Runs `body` against a fresh proxy, then checks that every refusal and finished session released its sockets and
 * timers before shutdown forced them, and that no password, verifier, key or token reached a trace-level log line.
 */
export async function withProxy(rig: Rig, raw: Parameters<typeof startTestProxy>[2], body: (proxy: TestProxy) => Promise<void>): Promise<void> {
  const proxy = await startTestProxy(rig.emulator.port, rig.ca, raw);
  try {
    await body(proxy);
    for (let i = 0; i < 150 && proxy.proxy.server.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(proxy.proxy.server.openConnections).toBe(0);
  } finally {
    await proxy.proxy.close();
  }
  expectNoSecrets(proxy.logs.text);
  for (const secret of [PASSWORD, 'SCRAM-SHA-256$', 'PRIVATE KEY', 'p=']) expect(proxy.logs.text).not.toContain(secret);
  expect(proxy.proxy.server.openConnections).toBe(0);
}

/** An auth file in `dir` with one line per role. */
export function authFileWith(dir: string, name: string, lines: Record<string, string>): string {
  const path = join(dir, name);
  writeFileSync(path, Object.entries(lines).map(([role, verifier]) => `"${role}" "${verifier}"\n`).join(''), { mode: 0o600 });
  return path;
}

/** psql over verify-full against the local CA, as `user`, with extra conninfo. */
export function psqlTls(files: ReviewFiles, port: number, user: string, extra = '', env: Record<string, string> = {}): ReturnType<typeof runTool> {
  return runTool('psql', ['-X', '-w', '-At', '-c', 'select current_user', '-d',
    `host=localhost port=${port} user=${user} dbname=postgres sslmode=verify-full sslrootcert=${files.localCa.certFile} ${extra}`], { env: clientEnv(env) });
}

/** A raw TCP socket to the proxy and everything it receives until it closes. */
export async function rawSocket(port: number): Promise<{ socket: ReturnType<typeof connectTcp>; received: () => Buffer; closed: Promise<void> }> {
  const socket = connectTcp(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise((r) => socket.once('connect', r));
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return { socket, received: () => Buffer.concat(chunks), closed };
}
