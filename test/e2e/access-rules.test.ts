import { existsSync, lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { psql, startTestProxy, useRig, type TestProxy } from '../support/harness.js';

const rig = useRig({ proxy: false });
const dirs: string[] = [];
afterAll(() => { for (const dir of dirs) rmSync(dir, { recursive: true, force: true }); });

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dsql-proxy-sock-'));
  dirs.push(dir);
  return dir;
}

const plain = (port: number, user = 'admin'): string => `host=127.0.0.1 port=${port} user=${user} dbname=postgres sslmode=disable`;

async function withProxy(raw: Parameters<typeof startTestProxy>[2], body: (proxy: TestProxy) => Promise<void>): Promise<void> {
  const proxy = await startTestProxy(rig.emulator.port, rig.ca, raw);
  try {
    await body(proxy);
  } finally {
    await proxy.proxy.close();
  }
}

describe('--allow-roles', () => {
  it('refuses a role not on the list with FATAL 28000 naming the rule (not the list), before dialing; a listed role connects', async () => {
    await withProxy({ allowRoles: 'app_reader,admin2' }, async (proxy) => {
      const before = rig.emulator.records.length;
      const closes = proxy.logs.closeCount;
      const refused = await psql(proxy.port, ['-At', '-c', 'select 1'], { conninfo: plain(proxy.port, 'admin') });
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain('FATAL:  role "admin" may not connect through this proxy (--allow-roles)');
      expect(rig.emulator.records.length).toBe(before);
      expect(refused.stderr).not.toContain('app_reader');
      expect(await proxy.logs.closeLineWith(closes, { user: 'admin', outcome: 'refused', auth: 'trust-loopback' })).toMatchObject({ user: 'admin', outcome: 'refused', auth: 'trust-loopback' });
      const served = await psql(proxy.port, ['-At', '-c', 'select current_user'], { conninfo: plain(proxy.port, 'app_reader') });
      expect(served.stdout.trim(), served.stderr).toBe('app_reader');
    });
  });
});

describe('--allow-cidr', () => {
  it('refuses a client address outside every block with FATAL 28000, before dialing', async () => {
    await withProxy({ allowCidr: '10.0.0.0/8,2001:db8::/32' }, async (proxy) => {
      const before = rig.emulator.records.length;
      const refused = await psql(proxy.port, ['-At', '-c', 'select 1'], { conninfo: plain(proxy.port) });
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain('FATAL:  client address 127.0.0.1 is not in --allow-cidr');
      expect(rig.emulator.records.length).toBe(before);
    });
  });

  it('lets in a client inside a block (and an IPv4 client of a dual-stack listener)', async () => {
    await withProxy({ allowCidr: '127.0.0.0/8' }, async (proxy) => {
      const served = await psql(proxy.port, ['-At', '-c', 'select 5'], { conninfo: plain(proxy.port) });
      expect(served.stdout.trim(), served.stderr).toBe('5');
    });
    await withProxy({ allowCidr: '127.0.0.1/32', listen: '[::]:0', allowUnauthenticated: true }, async (proxy) => {
      const served = await psql(proxy.port, ['-At', '-c', 'select 6'], { conninfo: plain(proxy.port) });
      expect(served.stdout.trim(), served.stderr).toBe('6');
    });
  });
});

describe('--unix-socket', () => {
  it('serves psql -h DIR on DIR/.s.PGSQL.<port> with mode 0600, and removes the file on close', async () => {
    const dir = tempDir();
    const proxy = await startTestProxy(rig.emulator.port, rig.ca, { listen: '127.0.0.1:0', unixSocket: dir, allowUnauthenticated: true });
    const path = join(dir, `.s.PGSQL.${proxy.port}`);
    try {
      expect(lstatSync(path).isSocket()).toBe(true);
      expect(lstatSync(path).mode & 0o777).toBe(0o600);
      const closes = proxy.logs.closeCount;
      const served = await psql(proxy.port, ['-At', '-c', 'select 11'], { conninfo: `host=${dir} port=${proxy.port} user=admin dbname=postgres` });
      expect(served.stdout.trim(), served.stderr).toBe('11');
      expect(await proxy.logs.closeLineWith(closes, { client: 'unix-socket', auth: 'trust', tls: false, outcome: 'relayed' })).toMatchObject({ client: 'unix-socket', auth: 'trust', tls: false, outcome: 'relayed' });
    } finally {
      await proxy.proxy.close();
    }
    expect(existsSync(path)).toBe(false);
  });

  it('widens the mode with --unix-socket-mode and replaces a stale socket file', async () => {
    const dir = tempDir();
    // A socket file left behind by a process that died (SIGKILL leaves no time to unlink it).
    const port = 54_000 + Math.floor(Math.random() * 1000);
    const path = join(dir, `.s.PGSQL.${port}`);
    const owner = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`]);
    await new Promise((r) => owner.stdout.once('data', r));
    owner.kill('SIGKILL');
    await new Promise((r) => owner.once('exit', r));
    expect(lstatSync(path).isSocket()).toBe(true);
    const proxy = await startTestProxy(rig.emulator.port, rig.ca, {
      listen: `127.0.0.1:${port}`, unixSocket: dir, unixSocketMode: '0660', allowUnauthenticated: true,
    }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') return undefined; // the random TCP port was taken: nothing to prove this run
      throw error;
    });
    if (!proxy) return;
    try {
      expect(lstatSync(path).mode & 0o777).toBe(0o660);
      const served = await psql(port, ['-At', '-c', 'select 12'], { conninfo: `host=${dir} port=${port} user=admin dbname=postgres` });
      expect(served.stdout.trim(), served.stderr).toBe('12');
    } finally {
      await proxy.proxy.close();
    }
  });

  it('refuses to take over a socket another proxy still serves, and leaves it in place', async () => {
    const dir = tempDir();
    const first = await startTestProxy(rig.emulator.port, rig.ca, { unixSocket: dir, allowUnauthenticated: true });
    const path = join(dir, `.s.PGSQL.${first.port}`);
    try {
      // Same port on another loopback address: the TCP listener binds, the socket name is taken.
      await expect(startTestProxy(rig.emulator.port, rig.ca, { listen: `127.0.0.2:${first.port}`, unixSocket: dir, allowUnauthenticated: true }))
        .rejects.toThrow(`${path} is in use`);
      expect(lstatSync(path).isSocket()).toBe(true);
      const served = await psql(first.port, ['-At', '-c', 'select 13'], { conninfo: `host=${dir} port=${first.port} user=admin dbname=postgres` });
      expect(served.stdout.trim(), served.stderr).toBe('13');
    } finally {
      await first.proxy.close();
    }
  });
});
