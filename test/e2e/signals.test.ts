import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { makeScramVerifier } from '../../src/client/scram.js';
import { CLUSTER_ID, REGION, SERVICE_ID, pgClient, useRig, waitForActiveQuery } from '../support/harness.js';
import { freePort } from '../support/postgres.js';
import { childEnv, configDir, CREDENTIAL_ENV, eventually, spawnService } from '../support/service-process.js';

const rig = useRig({ proxy: false });
const configs = configDir();
afterAll(() => configs.remove());

const serveArgs = (): string[] => [
  '--cluster-id', CLUSTER_ID, '--endpoint', `127.0.0.1:${rig.emulator.port}`, '--region', REGION,
  '--service-identifier', SERVICE_ID, '--ca-file', rig.ca.certFile,
];

/** True when `port` on 127.0.0.1 can be bound again. */
function bindable(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

describe('signals', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('%s with no session open exits 0 promptly and frees the port', async (signal) => {
    const port = await freePort();
    const proxy = await spawnService([...serveArgs(), '--listen', `127.0.0.1:${port}`, '--max-sigterm-delay', '30'], CREDENTIAL_ENV);
    expect(await bindable(port)).toBe(false);
    const started = Date.now();
    expect(await proxy.stop(signal), proxy.stderr()).toBe(0);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await bindable(port)).toBe(true);
    const messages = proxy.lines().map((l) => l.msg);
    expect(messages).toEqual(expect.arrayContaining(['stopping', 'draining', 'stopped']));
    expect(proxy.lines().find((l) => l.msg === 'stopping')).toMatchObject({ signal, open: 0 });
    expect(proxy.lines().find((l) => l.msg === 'draining')).toMatchObject({ open: 0, maxSigtermDelaySeconds: 30 });
  });

  it('a second signal while sessions drain exits 0 at once', async () => {
    const proxy = await spawnService([...serveArgs(), '--listen', '127.0.0.1:0', '--max-sigterm-delay', '60'], CREDENTIAL_ENV);
    const client = await pgClient(proxy.ports[0]!);
    const sql = 'select pg_sleep(30) /* second signal */';
    const query = client.query(sql).catch((error: Error) => error);
    try {
      await waitForActiveQuery(sql);
      proxy.child.kill('SIGTERM');
      expect(await eventually(() => proxy.lines().some((l) => l.msg === 'draining'))).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      expect(proxy.child.exitCode, 'the session in flight keeps the first signal from exiting').toBeNull();
      const started = Date.now();
      expect(await proxy.stop('SIGTERM')).toBe(0);
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(proxy.lines().find((l) => l.msg === 'second signal: exiting at once')).toMatchObject({ signal: 'SIGTERM', open: 1 });
      expect(await query).toBeInstanceOf(Error);
    } finally {
      await client.end().catch(() => undefined);
      if (proxy.child.exitCode === null) await proxy.stop('SIGKILL');
    }
  });

  it('SIGHUP re-reads the auth file of every listener', async () => {
    const files = [join(configs.dir, 'a.txt'), join(configs.dir, 'b.txt')];
    const line = (role: string): string => `"${role}" "${makeScramVerifier('s3cret-Password', { iterations: 4096 })}"\n`;
    for (const file of files) writeFileSync(file, line('admin'));
    const path = configs.write({
      endpoint: `127.0.0.1:${rig.emulator.port}`, region: REGION, 'service-identifier': SERVICE_ID, 'ca-file': rig.ca.certFile,
      'cluster-id': CLUSTER_ID,
      listeners: files.map((file) => ({ listen: '127.0.0.1:0', 'auth-file': file })),
    });
    const proxy = await spawnService(['--config', path], CREDENTIAL_ENV, 2);
    try {
      writeFileSync(files[0]!, line('admin') + line('app_reader'));
      writeFileSync(files[1]!, line('admin') + line('app_reader') + line('app_writer'));
      proxy.child.kill('SIGHUP');
      const reloaded = (): Record<string, unknown>[] => proxy.lines().filter((l) => l.msg === 'auth file reloaded');
      expect(await eventually(() => reloaded().length === 2)).toBe(true);
      expect(reloaded().map((l) => [l.listener, l.authFile, l.roles]).sort()).toEqual([[0, files[0], 2], [1, files[1], 3]]);
      expect(proxy.stderr()).not.toContain('SCRAM-SHA-256$');
    } finally {
      expect(await proxy.stop()).toBe(0);
    }
  });

  it('a signal during --check (an endpoint that never answers) ends the process at once with 0, saying so', async () => {
    const silent = createServer((socket) => socket.on('error', () => undefined)); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const child = spawn(process.execPath, ['bin/dsql-proxy.js', '--cluster-id', CLUSTER_ID, '--endpoint', `127.0.0.1:${port}`,
      '--region', REGION, '--service-identifier', SERVICE_ID, '--ca-file', rig.ca.certFile, '--listen', '127.0.0.1:0', '--check'],
    { env: childEnv(CREDENTIAL_ENV), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise((r) => setTimeout(r, 1_500)); // parsed, planned, and the doctor is waiting on the silent endpoint
      expect(child.exitCode).toBeNull();
      const started = Date.now();
      child.kill('SIGTERM');
      expect(await exited, stderr).toBe(0);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(stderr).toContain('dsql-proxy: SIGTERM before the listeners started: exiting');
      expect(stderr).not.toContain('dsql-proxy listening');
    } finally {
      child.kill('SIGKILL');
      silent.close();
    }
  });
});
