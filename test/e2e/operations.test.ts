import { afterAll, describe, expect, it } from 'vitest';
import { probe } from '../../src/http/probe.js';
import { packageVersion } from '../../src/version.js';
import { CLUSTER_ID, expectNoSecrets, pgClient, psql, REGION, SERVICE_ID, useRig, waitForActiveQuery } from '../support/harness.js';
import { freePort } from '../support/postgres.js';
import { configDir, CREDENTIAL_ENV, eventually, spawnService, type ServiceProcess } from '../support/service-process.js';

const rig = useRig({ proxy: false });
const configs = configDir();
afterAll(() => configs.remove());

const serveArgs = (): string[] => [
  '--cluster-id', CLUSTER_ID, '--endpoint', `127.0.0.1:${rig.emulator.port}`, '--region', REGION,
  '--service-identifier', SERVICE_ID, '--ca-file', rig.ca.certFile, '--listen', '127.0.0.1:0',
];

/** A serve process with --http-listen on a free loopback port; `http` is its base URL. */
async function serving(extra: string[] = []): Promise<{ proxy: ServiceProcess; http: string }> {
  const port = await freePort();
  const proxy = await spawnService([...serveArgs(), '--http-listen', `127.0.0.1:${port}`, ...extra], CREDENTIAL_ENV);
  return { proxy, http: `http://127.0.0.1:${port}` };
}

/** The value of one series in a Prometheus text exposition (undefined when absent). */
function series(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('draining on SIGTERM', () => {
  it('lets a transaction in flight finish and commit, refuses new clients meanwhile, then exits 0', async () => {
    const { proxy, http } = await serving(['--max-sigterm-delay', '30']);
    const client = await pgClient(proxy.ports[0]!);
    try {
      await client.query('begin');
      await client.query('create temporary table in_flight (n int)');
      expect((await probe(`${http}/readiness`, 2_000)).status).toBe(200);
      proxy.child.kill('SIGTERM');
      expect(await eventually(() => proxy.lines().some((l) => l.msg === 'draining'))).toBe(true);
      const readiness = await probe(`${http}/readiness`, 2_000);
      expect(readiness.status).toBe(503);
      expect(readiness.body).toContain('draining');
      const refused = await psql(proxy.ports[0]!, ['-c', 'select 1']);
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toMatch(/Connection refused/);
      await client.query('insert into in_flight values (41), (1)');
      expect((await client.query('select sum(n)::int as n from in_flight')).rows).toEqual([{ n: 42 }]);
      await client.query('commit');
      expect(proxy.child.exitCode, 'the session is still open: the process waits for it').toBeNull();
      const started = Date.now();
      await client.end();
      expect(await proxy.exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(proxy.lines().find((l) => l.msg === 'connection closed')).toMatchObject({ outcome: 'relayed' });
    } finally {
      if (proxy.child.exitCode === null) await proxy.stop('SIGKILL');
    }
  });

  it('past --max-sigterm-delay, a running query\'s client gets FATAL 57P01 and the process exits 0', async () => {
    const { proxy } = await serving(['--max-sigterm-delay', '1']);
    const client = await pgClient(proxy.ports[0]!);
    client.on('error', () => undefined);
    const sql = 'select pg_sleep(20) /* past the delay */';
    try {
      const query = client.query(sql).catch((error: Error & { code?: string; severity?: string }) => error);
      await waitForActiveQuery(sql);
      const started = Date.now();
      proxy.child.kill('SIGTERM');
      const error = await query;
      expect(error).toMatchObject({ code: '57P01', severity: 'FATAL', message: 'terminating connection: dsql-proxy is shutting down' });
      expect(await proxy.exited).toBe(0);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThan(5_000);
      expect(proxy.lines().find((l) => l.msg === 'connection closed')).toMatchObject({ outcome: 'shutdown' });
    } finally {
      await client.end().catch(() => undefined);
      if (proxy.child.exitCode === null) await proxy.stop('SIGKILL');
    }
  });

  it('psql sees the FATAL when its idle session is ended at the delay', async () => {
    const { proxy } = await serving(['--max-sigterm-delay', '0.5']);
    try {
      // psql reads its script from stdin: the second query waits until after the signal.
      const running = psql(proxy.ports[0]!, ['-f', '-'], { input: "select 'before';\nselect pg_sleep(3);\nselect 'after';\n" });
      await waitForActiveQuery('select pg_sleep(3);');
      proxy.child.kill('SIGTERM');
      const result = await running;
      expect(result.stdout).toContain('before');
      expect(result.stdout).not.toContain('after');
      expect(result.stderr).toContain('FATAL:  terminating connection: dsql-proxy is shutting down');
      expect(await proxy.exited).toBe(0);
    } finally {
      if (proxy.child.exitCode === null) await proxy.stop('SIGKILL');
    }
  });
});

describe('--max-connections', () => {
  it('with three psql clients and a limit of two, the third gets FATAL 53300 at once; a place frees when one leaves', async () => {
    const { proxy, http } = await serving(['--max-connections', '2']);
    const dialsBefore = rig.emulator.records.length;
    const first = await psql(proxy.ports[0]!, ['-c', 'select 1']);
    expect(first.status, first.stderr).toBe(0); // while no one holds a place, psql gets in
    const holders = [await pgClient(proxy.ports[0]!), await pgClient(proxy.ports[0]!)];
    try {
      // Two clients holding their places (a long query each) and a third, psql, refused.
      const sqls = ['select pg_sleep(30) /* holder 1 */', 'select pg_sleep(30) /* holder 2 */'];
      const held = holders.map((c, i) => c.query(sqls[i]!).catch((e: Error) => e));
      await waitForActiveQuery(sqls[0]!);
      await waitForActiveQuery(sqls[1]!);
      const started = Date.now();
      const third = await psql(proxy.ports[0]!, ['-c', 'select 1']);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(third.status).not.toBe(0);
      expect(third.stderr).toContain('FATAL:  sorry, too many clients already: dsql-proxy serves at most 2 (--max-connections)');
      expect(third.stderr).toContain('HINT:  Try again when other sessions have ended');
      expect((await probe(`${http}/readiness`, 2_000)).status).toBe(503);
      expect(rig.emulator.records.length - dialsBefore, 'the refused client dialed nothing').toBe(3);
      await holders[0]!.end();
      void held;
      expect(await eventually(() => proxy.lines().filter((l) => l.msg === 'connection closed' && l.outcome === 'relayed').length >= 2)).toBe(true);
      const fourth = await psql(proxy.ports[0]!, ['-c', 'select 4']);
      expect(fourth.status, fourth.stderr).toBe(0);
      const refused = proxy.lines().find((l) => l.msg === 'connection closed' && l.outcome === 'refused');
      expect(refused).toMatchObject({ user: 'admin' });
    } finally {
      for (const c of holders) await c.end().catch(() => undefined);
      await proxy.stop();
    }
  });
});

describe('/metrics after real sessions', () => {
  it('counts accepted, active, refused and failed connections, bytes both ways and login latency, per cluster', async () => {
    const { proxy, http } = await serving(['--max-connections', '1']);
    try {
      const startup = await probe(`${http}/startup`, 2_000);
      expect(startup.status).toBe(200);
      expect((await probe(`${http}/liveness`, 2_000)).status).toBe(200);
      const client = await pgClient(proxy.ports[0]!);
      await client.query("select repeat('x', 100000)");
      const during = (await probe(`${http}/metrics`, 2_000)).body;
      const c = `{cluster="${CLUSTER_ID}"}`;
      expect(series(during, `dsql_proxy_connections_active${c}`)).toBe(1);
      expect(series(during, `dsql_proxy_client_bytes_sent_total${c}`)).toBeGreaterThan(100_000); // counted while the session runs
      const refused = await psql(proxy.ports[0]!, ['-c', 'select 1']);
      expect(refused.status).not.toBe(0);
      await client.end();
      expect(await eventually(() => proxy.lines().filter((l) => l.msg === 'connection closed').length >= 2)).toBe(true);
      const text = (await probe(`${http}/metrics`, 2_000)).body;
      expect(series(text, `dsql_proxy_connections_accepted_total${c}`)).toBe(2);
      expect(series(text, `dsql_proxy_connections_active${c}`)).toBe(0);
      expect(series(text, `dsql_proxy_connections_refused_total{cluster="${CLUSTER_ID}",reason="53300"}`)).toBe(1);
      expect(series(text, `dsql_proxy_upstream_login_seconds_count${c}`)).toBe(1);
      expect(series(text, `dsql_proxy_upstream_connect_seconds_count${c}`)).toBe(1);
      const sent = series(text, `dsql_proxy_client_bytes_sent_total${c}`)!;
      expect(sent).toBeGreaterThan(100_000);
      expect(sent).toBeLessThan(120_000); // folded in once at the end, not twice
      expect(series(text, `dsql_proxy_client_bytes_received_total${c}`)).toBeGreaterThan(20);
      expect(series(text, 'dsql_proxy_max_connections')).toBe(1);
      expect(series(text, 'dsql_proxy_draining')).toBe(0);
      expect(text).toContain(`dsql_proxy_build_info{version="${packageVersion()}",node="${process.versions.node}"} 1`);
      expectNoSecrets(text);
    } finally {
      await proxy.stop();
    }
  });

  it('counts a failed upstream connection by its SQLSTATE on the listener of that cluster', async () => {
    const port = await freePort();
    const dead = await freePort(); // nothing listens there
    const path = configs.write({
      region: REGION, 'service-identifier': SERVICE_ID, 'ca-file': rig.ca.certFile, 'http-listen': `127.0.0.1:${port}`, 'connect-timeout': 2,
      listeners: [
        { 'cluster-id': CLUSTER_ID, endpoint: `127.0.0.1:${rig.emulator.port}`, listen: '127.0.0.1:0' },
        { 'cluster-id': 'zzzzzzzzzzzzzzzzzzzzzzzzzz', endpoint: `127.0.0.1:${dead}`, listen: '127.0.0.1:0' },
      ],
    });
    const proxy = await spawnService(['--config', path], CREDENTIAL_ENV, 2);
    try {
      expect((await psql(proxy.ports[1]!, ['-c', 'select 1'])).status).not.toBe(0);
      expect((await psql(proxy.ports[0]!, ['-c', 'select 1'])).status).toBe(0);
      const text = (await probe(`http://127.0.0.1:${port}/metrics`, 2_000)).body;
      expect(series(text, 'dsql_proxy_connections_failed_total{cluster="zzzzzzzzzzzzzzzzzzzzzzzzzz",reason="08001"}')).toBe(1);
      expect(series(text, `dsql_proxy_connections_failed_total{cluster="${CLUSTER_ID}",reason="08001"}`)).toBeUndefined();
      expect(series(text, `dsql_proxy_connections_accepted_total{cluster="${CLUSTER_ID}"}`)).toBe(1);
    } finally {
      await proxy.stop();
    }
  });
});

describe('--max-connect-rate', () => {
  it('spaces a burst of new connections at the rate instead of failing them, and refuses with 53400 past the connect timeout', async () => {
    const { proxy, http } = await serving(['--max-connect-rate', '2', '--connect-timeout', '1.2']);
    try {
      const before = rig.emulator.records.length;
      const started = Date.now();
      const results = await Promise.all(Array.from({ length: 6 }, () => psql(proxy.ports[0]!, ['-c', 'select 1'])));
      const elapsed = Date.now() - started;
      const ok = results.filter((r) => r.status === 0).length;
      const limited = results.filter((r) => r.stderr.includes('FATAL:  too many new connections: --max-connect-rate (2 per second'));
      // Two at once, then one every 500 ms while the 1.2 s deadline lasts (two more): the rest get 53400.
      expect(ok).toBe(4);
      expect(limited).toHaveLength(2);
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(rig.emulator.records.length - before).toBe(4); // the refused ones never dialed
      const text = (await probe(`${http}/metrics`, 2_000)).body;
      expect(series(text, `dsql_proxy_connections_failed_total{cluster="${CLUSTER_ID}",reason="53400"}`)).toBe(2);
      expect(series(text, 'dsql_proxy_connect_queue_waiting')).toBe(0);
    } finally {
      await proxy.stop();
    }
  });
});
