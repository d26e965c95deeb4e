import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { clientEnv, pgClient, runTool, useRig } from '../support/harness.js';

const rig = useRig();

describe('node-postgres through the proxy', () => {
  it('runs parameterized queries with text, numbers, bytea and nulls', async () => {
    const client = await pgClient(rig.proxy.port);
    try {
      const bytes = Buffer.from([0, 1, 2, 254, 255]);
      const { rows } = await client.query<{ t: string; n: number; b: Buffer; z: null }>(
        'select $1::text as t, $2::int + 1 as n, $3::bytea as b, $4::text as z', ['héllo wörld', 41, bytes, null]);
      expect(rows).toEqual([{ t: 'héllo wörld', n: 42, b: bytes, z: null }]);
      const prepared = { name: 'by_id', text: 'select g, md5(g::text) as h from generate_series(1, 10) g where g = $1' };
      for (const id of [3, 7]) {
        const result = await client.query({ ...prepared, values: [id] });
        expect(result.rows[0]).toMatchObject({ g: id });
      }
    } finally {
      await client.end();
    }
  });

  it('streams a large result set intact', async () => {
    const client = await pgClient(rig.proxy.port);
    try {
      const { rows } = await client.query<{ g: number; h: string }>('select g, md5(g::text) as h from generate_series(1, 300000) g');
      expect(rows).toHaveLength(300_000);
      expect(rows.map((r) => r.g)).toEqual(Array.from({ length: 300_000 }, (_, i) => i + 1));
      const { rows: [check] } = await client.query<{ h: string }>("select md5(string_agg(md5(g::text), '' order by g)) as h from generate_series(1, 300000) g");
      expect(createHash('md5').update(rows.map((r) => r.h).join('')).digest('hex')).toBe(check!.h);
    } finally {
      await client.end();
    }
  });

  it('serves many concurrent connections, each on its own session', async () => {
    const clients = await Promise.all(Array.from({ length: 25 }, () => pgClient(rig.proxy.port)));
    try {
      const pids = await Promise.all(clients.map(async (c, i) => {
        // DSQL refuses pg_backend_pid() (the emulator too); the session's client port upstream tells sessions apart.
        const { rows: [row] } = await c.query<{ pid: number; v: number }>('select inet_client_port() as pid, $1::int as v', [i]);
        expect(row!.v).toBe(i);
        return row!.pid;
      }));
      expect(new Set(pids).size).toBe(25);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });
});

describe('pgbench through the proxy', () => {
  it('initialises and runs a short multi-client benchmark without failures', async () => {
    const base = ['-h', '127.0.0.1', '-p', String(rig.proxy.port), '-U', 'admin'];
    const init = await runTool('pgbench', ['-i', '-s', '2', '-q', ...base, 'postgres'], { env: clientEnv() });
    expect(init.status, init.stderr).toBe(0);
    expect(init.stderr).toContain('done');
    const run = await runTool('pgbench', ['-c', '6', '-j', '2', '-t', '150', ...base, 'postgres'], { env: clientEnv() });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('number of transactions actually processed: 900/900');
    expect(run.stdout).toMatch(/number of failed transactions: 0 /);
  });
});
