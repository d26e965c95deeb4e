import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCa } from '../support/certs.js';
import type { DsqlEmulator } from '../support/emulator.js';
import {
  CLUSTER_ID, REGION, SERVICE_ID, connectError, expectNoSecrets, pgClient, runTool, startEmulator,
} from '../support/harness.js';
import { freePort } from '../support/postgres.js';
import { configDir, CREDENTIAL_ENV, childEnv, spawnService } from '../support/service-process.js';

/** A second cluster behind the same emulated endpoint service. */
const CLUSTER_B = 'bcdefghijklmnopqrstuvwxyza';
/** The cluster of the listener whose endpoint never answers. */
const CLUSTER_C = 'cdefghijklmnopqrstuvwxyzab';

let emulator: DsqlEmulator;
let ca: TestCa;
const configs = configDir();

beforeAll(async () => {
  ({ emulator, ca } = await startEmulator({ clusters: [CLUSTER_ID, CLUSTER_B] }));
});
afterAll(async () => {
  await emulator?.stop();
  configs.remove();
});

/** Settings every listener shares: the emulator's endpoint service and CA. */
const shared = (): Record<string, unknown> => ({
  endpoint: `127.0.0.1:${emulator.port}`, region: REGION, 'service-identifier': SERVICE_ID, 'ca-file': ca.certFile,
});

/** An endpoint that accepts TCP and then never says a word. */
async function silentEndpoint(): Promise<{ port: number; close(): void }> {
  const held: Socket[] = [];
  const server: Server = createServer((socket) => { held.push(socket); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => { for (const s of held) s.destroy(); server.close(); } };
}

async function exitsWith2(args: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await runTool(process.execPath, ['bin/dsql-proxy.js', ...args], { env: childEnv(env), timeoutMs: 20_000 });
  expect(result.status, result.stderr).toBe(2);
  expect(result.stderr).not.toContain('listening');
  return result.stderr;
}

describe('several clusters in one process (--config with "listeners")', () => {
  it('serves two clusters side by side while a third listener, whose endpoint never answers, fails only its own client', async () => {
    const silent = await silentEndpoint();
    const path = configs.write({
      ...shared(),
      'connect-timeout': 2,
      listeners: [
        { 'cluster-id': CLUSTER_ID, listen: '127.0.0.1:0' },
        { 'cluster-id': CLUSTER_B, listen: '127.0.0.1:0' },
        { 'cluster-id': CLUSTER_C, listen: '127.0.0.1:0', endpoint: `127.0.0.1:${silent.port}` },
      ],
    });
    const proxy = await spawnService(['--config', path, '--log-level', 'trace'], CREDENTIAL_ENV, 3);
    try {
      const started = proxy.lines().filter((l) => l.msg === 'dsql-proxy listening');
      expect(started.map((l) => [l.listener, l.cluster, l.endpoint])).toEqual([
        [0, CLUSTER_ID, `127.0.0.1:${emulator.port}`],
        [1, CLUSTER_B, `127.0.0.1:${emulator.port}`],
        [2, CLUSTER_C, `127.0.0.1:${silent.port}`],
      ]);
      const [portA, portB, portC] = proxy.ports;
      const a = await pgClient(portA!);
      const b = await pgClient(portB!);
      try {
        // The broken listener's client waits for its endpoint while the other two keep serving.
        const broken = connectError(portC!);
        for (let i = 0; i < 3; i++) {
          expect((await a.query('select $1::int as n', [i])).rows).toEqual([{ n: i }]);
          expect((await b.query('select $1::int as n', [i + 10])).rows).toEqual([{ n: i + 10 }]);
        }
        const error = await broken;
        expect(error.code).toBe('08001');
        expect(error.message).toContain(`could not connect to 127.0.0.1:${silent.port} within 2 s`);
        expect((await a.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
        expect((await b.query('select 2 as two')).rows).toEqual([{ two: 2 }]);
      } finally {
        await a.end();
        await b.end();
      }
      const logins = emulator.records.filter((r) => r.authenticated);
      expect(logins.map((r) => r.sni)).toEqual(expect.arrayContaining([
        `${CLUSTER_ID}.${SERVICE_ID}.${REGION}.on.aws`, `${CLUSTER_B}.${SERVICE_ID}.${REGION}.on.aws`,
      ]));
      expect(new Set(logins.map((r) => r.tokenHostname))).toEqual(new Set([
        `${CLUSTER_ID}.${SERVICE_ID}.${REGION}.on.aws`, `${CLUSTER_B}.${SERVICE_ID}.${REGION}.on.aws`,
      ]));
      expect(await proxy.stop()).toBe(0);
      const closes = proxy.lines().filter((l) => l.msg === 'connection closed');
      expect(closes.map((l) => [l.listener, l.outcome]).sort()).toEqual([[0, 'relayed'], [1, 'relayed'], [2, 'failed']]);
      expectNoSecrets(proxy.stderr());
    } finally {
      silent.close();
      if (proxy.child.exitCode === null) await proxy.stop('SIGKILL');
    }
  });

  it('a file without "listeners" describes one listener, and flags still win over it', async () => {
    const path = configs.write({ ...shared(), 'cluster-id': CLUSTER_B, listen: '127.0.0.1:1' });
    const proxy = await spawnService(['--config', path, '--listen', '127.0.0.1:0'], CREDENTIAL_ENV);
    try {
      const client = await pgClient(proxy.ports[0]!);
      expect((await client.query('select 5 as five')).rows).toEqual([{ five: 5 }]);
      await client.end();
      expect(proxy.lines().find((l) => l.msg === 'dsql-proxy listening')).toMatchObject({ cluster: CLUSTER_B });
      expect(proxy.lines().find((l) => l.msg === 'dsql-proxy listening')).not.toHaveProperty('listener');
    } finally {
      await proxy.stop();
    }
  });

  it('when one listener cannot bind, closes the ones already listening and exits 1 with the hint', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const takenPort = (taken.address() as AddressInfo).port;
    const firstPort = await freePort();
    try {
      const path = configs.write({
        ...shared(),
        listeners: [{ 'cluster-id': CLUSTER_ID, listen: `127.0.0.1:${firstPort}` }, { 'cluster-id': CLUSTER_B, listen: `127.0.0.1:${takenPort}` }],
      });
      const result = await runTool(process.execPath, ['bin/dsql-proxy.js', '--config', path], { env: childEnv(CREDENTIAL_ENV), timeoutMs: 20_000 });
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/dsql-proxy: cannot start listener 1: listen EADDRINUSE/);
      expect(result.stderr).toContain(`Another program already listens on 127.0.0.1:${takenPort}`);
      // The first listener was up, and was closed: its port is free again.
      const again = createServer();
      await new Promise<void>((resolve, reject) => { again.once('error', reject); again.listen(firstPort, '127.0.0.1', resolve); });
      again.close();
    } finally {
      taken.close();
    }
  });

  it('exits 2 before anything listens when a later listener has a bad value, naming the key, the listener and the file', async () => {
    const path = configs.write({
      ...shared(),
      listeners: [{ 'cluster-id': CLUSTER_ID, listen: '127.0.0.1:0' }, { 'cluster-id': CLUSTER_B, listen: '127.0.0.1:0', 'ca-file': '/nonexistent/ca.pem' }],
    });
    expect(await exitsWith2(['--config', path])).toContain(`dsql-proxy: --ca-file: cannot use "/nonexistent/ca.pem": ENOENT: no such file or directory, open '/nonexistent/ca.pem' (listeners[1] of ${path})`);
    const route = configs.write({ ...shared(), listeners: [{ 'cluster-id': CLUSTER_ID }, { 'cluster-id': CLUSTER_B, listen: '6433', route: 'dns' }] });
    expect(await exitsWith2(['--config', route])).toContain(`--route: "dns" is not a route: use sni or option (listeners[1] of ${route})`);
  });

  it('says a bad value came from the file only when it did', async () => {
    const single = configs.write({ ...shared(), 'cluster-id': CLUSTER_ID, 'connect-timeout': 'soon' });
    expect(await exitsWith2(['--config', single])).toContain(`dsql-proxy: --connect-timeout: "soon" is not a number (${single})\n`);
    expect(await exitsWith2(['--config', single, '--connect-timeout', 'later'])).toContain('dsql-proxy: --connect-timeout: "later" is not a number\n');
    const two = configs.write({ ...shared(), listeners: [{ 'cluster-id': CLUSTER_ID }, { 'cluster-id': CLUSTER_B, listen: '6433' }] });
    expect(await exitsWith2(['--config', two, '--startup-timeout', '-1'])).toContain('dsql-proxy: --startup-timeout: "-1" is not a positive number (listener 0)\n');
  });

  it.each([
    [{ listeners: [{ 'cluster-id': CLUSTER_ID, listen: '127.0.0.1:6432' }, { 'cluster-id': CLUSTER_B, listen: '127.0.0.1:6432' }] },
      /--listen: listeners 0 and 1 both listen on 127\.0\.0\.1:6432: give each listener its own "listen" port/],
    [{ listeners: [{ 'cluster-id': CLUSTER_ID, 'log-level': 'debug' }] }, /listeners\[0\]: "log-level" applies to the whole process: set it at the top level/],
    [{ 'cluster-id': CLUSTER_ID, endpont: 'x' }, /--config: .*config-\d+\.json: unknown key "endpont"/],
    [{ listeners: { 'cluster-id': CLUSTER_ID } }, /"listeners" must be an array of objects, not an object/],
    ['{\n  "cluster-id": "abc",\n  "listen": 6432,\n}', /not valid JSON at line 4 column 1/],
    [{ 'cluster-id': CLUSTER_ID, 'connect-timeout': [10] }, /"connect-timeout" must be a number \(or its text\), not an array/],
  ])('exits 2 on a bad config file (%#), naming the file and the key', async (content, message) => {
    const path = configs.write(typeof content === 'string' ? content : { ...shared(), ...content });
    const stderr = await exitsWith2(['--config', path]);
    expect(stderr).toMatch(message);
    if (!/listeners 0 and 1/.test(stderr)) expect(stderr).toContain(path);
  });

  it('exits 2 on an unreadable --config or DSQL_PROXY_CONFIG file', async () => {
    expect(await exitsWith2(['--config', '/nonexistent/dsql-proxy.json'])).toContain('--config: cannot read "/nonexistent/dsql-proxy.json": ENOENT');
    expect(await exitsWith2([], { DSQL_PROXY_CONFIG: '/nonexistent/env.json' })).toContain('--config: cannot read "/nonexistent/env.json": ENOENT');
  });

  it.each([
    [['--max-connections', '-3'], '--max-connections: "-3" is not a whole number (0 or more)'],
    [['--max-connect-rate', 'fast'], '--max-connect-rate: "fast" is not a whole number (0 or more)'],
    [['--max-sigterm-delay', '1h'], '--max-sigterm-delay: "1h" is not a number of seconds (0 or more)'],
    [['--http-listen', 'localhost:http'], '--http-listen: '],
  ])('exits 2 on a bad limit flag %j', async (args, message) => {
    const stderr = await exitsWith2(['--cluster-id', CLUSTER_ID, '--endpoint', `127.0.0.1:${emulator.port}`, '--region', REGION, '--service-identifier', SERVICE_ID, ...args]);
    expect(stderr).toContain(message);
  });
});
