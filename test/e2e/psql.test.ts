import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNegotiateProtocolVersion } from '../../src/protocol/messages.js';
import { serializeStartupMessage } from '../../src/protocol/startup.js';
import {
  CLUSTER_HOSTNAME, CLUSTER_ID, clientEnv, conninfo, expectNoSecrets, psql, useRig, waitForActiveQuery,
} from '../support/harness.js';
import { queryMessage, RawClient } from '../support/raw-client.js';

const rig = useRig();
const work = mkdtempSync(join(tmpdir(), 'dsql-proxy-psql-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('psql through the proxy', () => {
  it('runs select 1 with no password, no PGOPTIONS and no DNS', async () => {
    const before = rig.emulator.records.length;
    const result = await psql(rig.proxy.port, ['-At', '-c', 'select 1']);
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('1');
    const seen = rig.emulator.records.slice(before).find((r) => r.kind === 'startup')!;
    expect(seen).toMatchObject({
      sni: CLUSTER_HOSTNAME,
      clusterId: CLUSTER_ID,
      user: 'admin',
      action: 'DbConnectAdmin',
      tokenHostname: CLUSTER_HOSTNAME,
      authenticated: true,
      // The private-DNS recipe on the wire: the cluster named by SNI alone, no amzn-cluster-id option.
      options: undefined,
    });
  });

  it('runs a multi-statement script with a transaction and keeps the client options', async () => {
    const script = [
      'create table script_t (id int primary key, name text);',
      'begin;',
      "insert into script_t values (1, 'one'), (2, 'two');",
      'update script_t set name = upper(name);',
      'commit;',
      'select string_agg(name, \',\' order by id) from script_t;',
      'show search_path;',
      'drop table script_t;',
    ].join('\n');
    const file = join(work, 'script.sql');
    writeFileSync(file, script);
    const before = rig.emulator.records.length;
    const result = await psql(rig.proxy.port, ['-At', '-f', file], { conninfo: `${conninfo(rig.proxy.port)} options='-c search_path=public,pg_catalog'` });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout.split('\n')).toContain('ONE,TWO');
    expect(result.stdout.split('\n')).toContain('public,pg_catalog');
    expect(rig.emulator.records.slice(before).find((r) => r.kind === 'startup')!.options)
      .toBe('-c search_path=public,pg_catalog');
  });

  it('copies 50+ MB out and back in with \\copy, byte-identical', async () => {
    const out1 = join(work, 'out1.csv');
    const out2 = join(work, 'out2.csv');
    const setup = await psql(rig.proxy.port, ['-c',
      'create table copy_src as select g, repeat(md5(g::text), 3) as payload from generate_series(1, 550000) g; create table copy_dst (like copy_src);']);
    expect(setup.status, setup.stderr).toBe(0);
    const started = Date.now();
    const copies = await psql(rig.proxy.port, [
      '-c', `\\copy (select * from copy_src order by g) to '${out1}' csv`,
      '-c', `\\copy copy_dst from '${out1}' csv`,
      '-c', `\\copy (select * from copy_dst order by g) to '${out2}' csv`,
    ]);
    const seconds = (Date.now() - started) / 1000;
    expect(copies.status, copies.stderr).toBe(0);
    const size = statSync(out1).size;
    expect(size).toBeGreaterThanOrEqual(50 * 1024 * 1024);
    expect(sha256(out2)).toBe(sha256(out1));
    console.log(`\\copy: ${(size / 1048576).toFixed(1)} MiB out, in and out again through the proxy in ${seconds.toFixed(2)} s`);
    await psql(rig.proxy.port, ['-c', 'drop table copy_src; drop table copy_dst;']);
  });

  it('connects a non-admin role with a DbConnect token', async () => {
    const before = rig.emulator.records.length;
    const result = await psql(rig.proxy.port, ['-At', '-c', 'select current_user'], { user: 'app_reader' });
    expect(result.stdout.trim(), result.stderr).toBe('app_reader');
    expect(rig.emulator.records.slice(before).find((r) => r.kind === 'startup')).toMatchObject({ user: 'app_reader', action: 'DbConnect', authenticated: true });
  });

  it('cancels a running query on Ctrl-C (SIGINT) with SQLSTATE 57014', async () => {
    const child = spawn('psql', ['-X', '-v', 'VERBOSITY=verbose', '-d', conninfo(rig.proxy.port), '-c', 'select pg_sleep(30)'],
      { env: clientEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    try {
      await waitForActiveQuery('select pg_sleep(30)');
      const cancelsBefore = rig.emulator.records.filter((r) => r.kind === 'cancel').length;
      const sent = Date.now();
      child.kill('SIGINT');
      const status = await exited;
      expect(Date.now() - sent).toBeLessThan(10_000);
      expect(status).not.toBe(0);
      expect(stderr).toContain('57014');
      expect(stderr).toContain('canceling statement due to user request');
      expect(rig.emulator.records.filter((r) => r.kind === 'cancel').length).toBe(cancelsBefore + 1);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('answers a client asking for protocol 3.2 with NegotiateProtocolVersion 3.0 and serves it', async () => {
    const client = await RawClient.connect(rig.proxy.port);
    client.send(serializeStartupMessage((3 << 16) | 2, [['user', 'admin'], ['database', 'postgres'], ['_pq_.test_option', 'on']]));
    const first = await client.next();
    expect(String.fromCharCode(first![0]!)).toBe('v');
    expect(parseNegotiateProtocolVersion(first!)).toEqual({ version: 196608, unsupportedOptions: ['_pq_.test_option'] });
    const startup = await client.until('Z');
    expect(startup[0]!.subarray(0, 9)).toEqual(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0])); // AuthenticationOk first
    expect(startup.some((f) => f[0] === 0x4b)).toBe(true); // BackendKeyData passed through
    client.send(queryMessage('select 40 + 2'));
    const reply = await client.until('Z');
    const row = reply.find((f) => f[0] === 0x44)!;
    expect(row.subarray(11).toString()).toBe('42');
    client.socket.end(Buffer.from([0x58, 0, 0, 0, 4]));
    await client.closed;
  });
});

describe('logging', () => {
  it('logs one line at open and one at close with the connection facts and no secrets', async () => {
    await psql(rig.proxy.port, ['-c', 'select 1'], { user: 'app_reader' });
    await new Promise((r) => setTimeout(r, 100));
    const closed = rig.proxy.logs.withMessage('connection closed').filter((l) => l.user === 'app_reader').at(-1)!;
    expect(closed).toMatchObject({ database: 'postgres', outcome: 'relayed', upstream: `127.0.0.1:${rig.emulator.port}`, closedBy: 'client' });
    expect(closed.bytesFromClient).toBeGreaterThan(0);
    expect(closed.bytesToClient).toBeGreaterThan(0);
    expect(typeof closed.durationMs).toBe('number');
    const opened = rig.proxy.logs.withMessage('client connected').find((l) => l.conn === closed.conn)!;
    expect(opened.client).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(rig.proxy.logs.lines.some((l) => l.msg === 'authenticated; relaying' && l.level === 20)).toBe(true); // verbose levels were on
    expectNoSecrets(rig.proxy.logs.text);
  });
});
