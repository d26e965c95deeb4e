/**
 * Review of bastion mode (issue 10), authentication side: SCRAM from a hostile client, the auth file on reload and
 * when empty, the startup deadline, a repeated user, flags a careless operator combines, and --help.
 */
import { renameSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { makeScramVerifier } from '../../src/client/scram.js';
import { parseStartupPacket } from '../../src/protocol/startup.js';
import { upstreamStartup } from '../../src/proxy/upstream-startup.js';
import { ScramTestClient } from '../client/scram-client.js';
import { CLUSTER_ID, clientEnv, runTool, useRig } from '../support/harness.js';
import { RawClient } from '../support/raw-client.js';
import { cstring, int32, message, parseErrorFields, startupMessage } from '../support/wire.js';
import { authFileWith, PASSWORD, useReviewFiles, withProxy } from './support.js';

const rig = useRig({ proxy: false });
const files = useReviewFiles();

/** Runs startup and SASLInitialResponse on a raw client; returns the server-first-message's attributes. */
async function serverFirstFor(port: number, user: string): Promise<Map<string, string>> {
  const client = await RawClient.connect(port);
  try {
    client.send(startupMessage([['user', user], ['database', 'postgres']]));
    await client.until('R');
    const first = new ScramTestClient(PASSWORD).first();
    client.send(message('p', cstring('SCRAM-SHA-256'), int32(first.length), first));
    const [cont] = await client.until('R');
    const text = cont!.subarray(9).toString('latin1');
    return new Map(text.split(',').map((part) => [part[0]!, part.slice(2)] as const));
  } finally {
    client.socket.destroy();
  }
}

describe('SCRAM from a hostile client', () => {
  it('an unknown role is told the same iteration count as the roles in the file (no enumeration by i=)', async () => {
    const file = authFileWith(files.dir, 'iterations.txt', { app_reader: makeScramVerifier(PASSWORD, { iterations: 10_000 }) });
    await withProxy(rig, { authFile: file }, async (proxy) => {
      const known = await serverFirstFor(proxy.port, 'app_reader');
      const unknown = await serverFirstFor(proxy.port, 'no_such_role');
      expect(known.get('i')).toBe('10000');
      expect(unknown.get('i')).toBe(known.get('i'));
    });
  });

  it('a client that never answers the SASL request gets a FATAL with a hint at the startup deadline, and nothing stays open', async () => {
    const file = authFileWith(files.dir, 'silent.txt', { admin: makeScramVerifier(PASSWORD) });
    await withProxy(rig, { authFile: file, startupTimeout: 1 }, async (proxy) => {
      const before = rig.emulator.records.length;
      const client = await RawClient.connect(proxy.port);
      const started = Date.now();
      client.send(startupMessage([['user', 'admin'], ['database', 'postgres']]));
      const error = (await client.until('E')).at(-1)!;
      expect(Date.now() - started).toBeLessThan(2_500);
      const fields = parseErrorFields(error);
      expect(fields).toMatchObject({ S: 'FATAL', C: '08P01' });
      expect(fields.M).toMatch(/did not complete authentication within 1 s/);
      expect(fields.H).toBeDefined();
      await client.closed;
      expect(rig.emulator.records.length).toBe(before);
    });
  });

  it('the SASL responses and a query pipelined behind the startup message all arrive in one write and still log in', async () => {
    const file = authFileWith(files.dir, 'pipelined.txt', { admin: makeScramVerifier(PASSWORD) });
    await withProxy(rig, { authFile: file }, async (proxy) => {
      const client = await RawClient.connect(proxy.port);
      const scram = new ScramTestClient(PASSWORD);
      const first = scram.first();
      client.send(Buffer.concat([startupMessage([['user', 'admin'], ['database', 'postgres']]),
        message('p', cstring('SCRAM-SHA-256'), int32(first.length), first)]));
      await client.until('R');
      const [cont] = await client.until('R');
      const final = scram.final(cont!.subarray(9).toString('latin1'));
      client.send(Buffer.concat([message('p', final), message('Q', cstring('select 1'))]));
      const frames = await client.until('Z');
      expect(frames.map((f) => String.fromCharCode(f[0]!))).toContain('R');
      const rows = await client.until('Z');
      expect(rows.some((f) => f[0] === 0x44)).toBe(true); // DataRow of the pipelined query
      client.socket.destroy();
    });
  });

  it('a Terminate in place of the SASL response is a client leaving, not a failed login', async () => {
    const file = authFileWith(files.dir, 'terminate.txt', { admin: makeScramVerifier(PASSWORD) });
    await withProxy(rig, { authFile: file }, async (proxy) => {
      const before = rig.emulator.records.length;
      const closes = proxy.logs.closeCount;
      const client = await RawClient.connect(proxy.port);
      client.send(startupMessage([['user', 'admin'], ['database', 'postgres']]));
      await client.until('R');
      client.send(message('X'));
      client.socket.end();
      await client.closed;
      expect(await proxy.logs.closeLineWith(closes, { outcome: 'client-gone' })).toMatchObject({ outcome: 'client-gone' });
      expect(rig.emulator.records.length).toBe(before);
    });
  });
});

describe('the auth file on SIGHUP', () => {
  it('a file that disappeared is logged and the previous verifiers stay in force', async () => {
    const file = authFileWith(files.dir, 'vanishing.txt', { admin: makeScramVerifier(PASSWORD) });
    await withProxy(rig, { authFile: file }, async (proxy) => {
      renameSync(file, `${file}.moved`);
      proxy.proxy.reload();
      expect(proxy.logs.withMessage('auth file not reloaded: keeping the previous one').at(-1)?.error).toMatch(/no such file/);
      const result = await runTool('psql', ['-X', '-w', '-At', '-c', 'select current_user', '-d',
        `host=127.0.0.1 port=${proxy.port} user=admin dbname=postgres sslmode=disable`], { env: clientEnv({ PGPASSWORD: PASSWORD }) });
      expect(result.stdout.trim(), result.stderr).toBe('admin');
    });
  });
});

describe('flags a careless operator combines', () => {
  it('--allow-unauthenticated with --auth-file still demands the password', async () => {
    const file = authFileWith(files.dir, 'both.txt', { admin: makeScramVerifier(PASSWORD) });
    await withProxy(rig, { authFile: file, allowUnauthenticated: true, listen: '0.0.0.0:0' }, async (proxy) => {
      const before = rig.emulator.records.length;
      const result = await runTool('psql', ['-X', '-w', '-At', '-c', 'select 1', '-d', `host=127.0.0.1 port=${proxy.port} user=admin dbname=postgres sslmode=disable`],
        { env: clientEnv({}) });
      expect(result.status).not.toBe(0);
      expect(rig.emulator.records.length).toBe(before);
    });
  });
});

describe('--help', () => {
  it('its container example with --listen 0.0.0.0 names client authentication (without it that command exits 2)', async () => {
    const help = await runTool(process.execPath, ['bin/dsql-proxy.js', '--help']);
    const examples = help.stdout.slice(help.stdout.indexOf('Examples:'));
    expect(examples).toContain('0.0.0.0:5432');
    expect(examples).toMatch(/AUTH_FILE|--auth-file|TLS_CLIENT_CA|--tls-client-ca|--allow-unauthenticated/);
  });
});

describe('a startup packet that names the user twice', () => {
  it('only the user the proxy judged (the last, as PostgreSQL reads it) goes upstream', () => {
    const packet = parseStartupPacket(startupMessage([['user', 'admin'], ['database', 'postgres'], ['user', 'app_reader']]));
    if (packet.kind !== 'startup') throw new Error('not a startup packet');
    const upstream = upstreamStartup(packet, { clusterId: CLUSTER_ID, injectClusterId: false, keepDatabase: false });
    expect(upstream.user).toBe('app_reader');
    expect(upstream.parameters.filter(([name]) => name === 'user')).toEqual([['user', 'app_reader']]);
  });
});

describe('the startup deadline', () => {
  it('covers the opening and the SCRAM exchange together: a slow startup packet leaves less time to answer', async () => {
    const file = authFileWith(files.dir, 'deadline.txt', { admin: makeScramVerifier(PASSWORD) });
    await withProxy(rig, { authFile: file, startupTimeout: 2 }, async (proxy) => {
      const client = await RawClient.connect(proxy.port);
      const started = Date.now();
      await new Promise((r) => setTimeout(r, 1_500));
      client.send(startupMessage([['user', 'admin'], ['database', 'postgres']]));
      const error = (await client.until('E')).at(-1)!;
      expect(parseErrorFields(error).M).toMatch(/did not complete authentication within 2 s/);
      expect(Date.now() - started).toBeLessThan(2_700);
      client.socket.destroy();
    });
  });
});

describe('an empty auth file', () => {
  it('is warned about at start and on reload (every client would be refused)', async () => {
    const file = authFileWith(files.dir, 'empty.txt', {});
    await withProxy(rig, { authFile: file }, async (proxy) => {
      const warnings = (): Record<string, unknown>[] => proxy.logs.lines.filter((l) => l.level === 40 && String(l.msg).includes('lists no role'));
      expect(warnings()).toHaveLength(1);
      proxy.proxy.reload();
      expect(warnings()).toHaveLength(2);
    });
  });
});

describe('odd SASL messages', () => {
  it.each([
    ['no initial data (length -1)', message('p', cstring('SCRAM-SHA-256'), int32(-1))],
    ['an empty client-first-message', message('p', cstring('SCRAM-SHA-256'), int32(0))],
    ['a 1 MiB message', message('p', cstring('SCRAM-SHA-256'), int32(1 << 20), Buffer.alloc(1 << 20, 0x61))],
  ])('%s: FATAL 08P01 with a hint after the failure pause, nothing dialed, nothing left open', async (_case, bytes) => {
    const file = authFileWith(files.dir, 'odd.txt', { admin: makeScramVerifier(PASSWORD) });
    await withProxy(rig, { authFile: file }, async (proxy) => {
      const before = rig.emulator.records.length;
      const client = await RawClient.connect(proxy.port);
      client.send(startupMessage([['user', 'admin'], ['database', 'postgres']]));
      await client.until('R');
      const started = Date.now();
      client.send(bytes);
      const error = (await client.until('E')).at(-1)!;
      expect(Date.now() - started).toBeGreaterThanOrEqual(240);
      expect(parseErrorFields(error)).toMatchObject({ S: 'FATAL', C: '08P01' });
      expect(parseErrorFields(error).H).toBeDefined();
      await client.closed;
      expect(rig.emulator.records.length).toBe(before);
    });
  });

});
