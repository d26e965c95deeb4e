import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { CLUSTER_ID, clientEnv, runTool, startTestProxy, useRig } from '../support/harness.js';

const rig = useRig({ proxy: false });

/** node-postgres with its timeouts set: it sends them in the StartupMessage, which Aurora DSQL refuses. */
function timeoutClient(port: number): pg.Client {
  return new pg.Client({
    host: '127.0.0.1', port, user: 'admin', database: 'postgres',
    statement_timeout: 5000, lock_timeout: 2000, idle_in_transaction_session_timeout: 60000,
  });
}

describe('settings Aurora DSQL refuses in the StartupMessage', () => {
  it('are kept from DSQL: node-postgres with timeouts connects, and each name is logged once per listener', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca);
    try {
      for (let i = 0; i < 2; i++) {
        const client = timeoutClient(proxy.port);
        await client.connect();
        expect((await client.query('select 42 as answer')).rows).toEqual([{ answer: 42 }]);
        await client.end();
      }
      const warned = proxy.logs.withMessage('a client sent a setting Aurora DSQL refuses in the startup packet: kept from DSQL (logged once per name)');
      expect(warned.map((line) => line.setting).sort()).toEqual(['idle_in_transaction_session_timeout', 'lock_timeout', 'statement_timeout']);
      const record = rig.emulator.records.at(-1)!;
      expect(record.clusterId).toBe(CLUSTER_ID);
      expect(record.authenticated).toBe(true);
    } finally {
      await proxy.proxy.close();
    }
  });

  it('psql with PGOPTIONS="-c statement_timeout=5000 -c search_path=kept" connects; the allowed setting still reaches the server', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca);
    try {
      const result = await runTool('psql', ['-X', '-A', '-t', '-d', `host=127.0.0.1 port=${proxy.port} user=admin dbname=postgres`, '-c', 'show search_path'],
        { env: clientEnv({ PGOPTIONS: '-c statement_timeout=5000 -c search_path=kept' }) });
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout.trim()).toBe('kept');
      expect(proxy.logs.withMessage('a client sent a setting Aurora DSQL refuses in the startup packet: kept from DSQL (logged once per name)')
        .map((l) => l.setting)).toEqual(['statement_timeout']);
    } finally {
      await proxy.proxy.close();
    }
  });

  it('with --no-sql-compat go to DSQL as sent, and its refusal reaches the client', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca, { sqlCompat: false });
    try {
      const client = timeoutClient(proxy.port);
      const error = await client.connect().then(() => undefined, (e: Error & { code?: string }) => e);
      expect(error?.message).toMatch(/setting configuration parameter "(statement_timeout|lock_timeout|idle_in_transaction_session_timeout)" not supported/);
      expect(error?.code).toBe('0A000');
      await client.end().catch(() => undefined);
    } finally {
      await proxy.proxy.close();
    }
  });
});
