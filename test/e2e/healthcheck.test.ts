import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER_ID, REGION, SERVICE_ID, pgClient, runTool, useRig, type ToolResult } from '../support/harness.js';
import { freePort } from '../support/postgres.js';
import { configDir, CREDENTIAL_ENV, childEnv, eventually, spawnService, type ServiceProcess } from '../support/service-process.js';

const rig = useRig({ proxy: false });
const configs = configDir();
afterAll(() => configs.remove());

function healthcheck(args: string[], env: Record<string, string> = {}): Promise<ToolResult> {
  return runTool(process.execPath, ['bin/dsql-proxy.js', 'healthcheck', ...args], { env: childEnv(env), timeoutMs: 20_000 });
}

/** A stand-in /readiness: answers with whatever `answer` says at the time of the request; the paths it was asked. */
class FakeProbe {
  readonly paths: string[] = [];
  answer: (res: ServerResponse) => void = (res) => res.writeHead(200).end('ready\n');
  private readonly server: Server = createServer((req: IncomingMessage, res) => {
    this.paths.push(`${req.method} ${req.url}`);
    this.answer(res);
  });

  port = 0;

  async start(host = '127.0.0.1'): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, host, resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('dsql-proxy healthcheck: its verdict on /readiness', () => {
  const probe = new FakeProbe();
  beforeAll(() => probe.start());
  afterAll(() => probe.stop());

  it('exits 0 when GET /readiness answers 200', async () => {
    probe.answer = (res) => res.writeHead(200).end('ready\n');
    const result = await healthcheck(['--http-listen', `127.0.0.1:${probe.port}`]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toBe(`ready: http://127.0.0.1:${probe.port}/readiness answered 200\n`);
    expect(probe.paths.at(-1)).toBe('GET /readiness');
  });

  it('exits 1 on a 503, with the body in one line', async () => {
    probe.answer = (res) => res.writeHead(503).end('not ready: draining\n');
    const result = await healthcheck(['--http-listen', `127.0.0.1:${probe.port}`]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`dsql-proxy healthcheck: not ready: http://127.0.0.1:${probe.port}/readiness answered 503: not ready: draining\n`);
  });

  it('exits 1 within about 3 s when nothing answers', async () => {
    probe.answer = () => undefined; // the request hangs
    const started = Date.now();
    const result = await healthcheck(['--http-listen', `127.0.0.1:${probe.port}`]);
    const elapsed = Date.now() - started;
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('/readiness did not answer within 3 s');
    expect(elapsed).toBeGreaterThanOrEqual(2_900);
    expect(elapsed).toBeLessThan(8_000);
  });

  it('exits 1 when nothing listens there', async () => {
    const port = await freePort();
    const result = await healthcheck(['--http-listen', `127.0.0.1:${port}`]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`dsql-proxy healthcheck: not ready: http://127.0.0.1:${port}/readiness could not be reached: ECONNREFUSED\n`);
  });

  it('asks loopback when --http-listen is a wildcard address', async () => {
    probe.answer = (res) => res.writeHead(200).end('ready\n');
    const result = await healthcheck(['--http-listen', `0.0.0.0:${probe.port}`]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain(`http://127.0.0.1:${probe.port}/readiness`);
  });

  it('reads --http-listen from DSQL_PROXY_HTTP_LISTEN and from the --config file, as serve does', async () => {
    probe.answer = (res) => res.writeHead(200).end('ready\n');
    expect((await healthcheck([], { DSQL_PROXY_HTTP_LISTEN: String(probe.port) })).status).toBe(0);
    const path = configs.write({ 'http-listen': `127.0.0.1:${probe.port}`, listeners: [{ 'cluster-id': CLUSTER_ID }] });
    expect((await healthcheck(['--config', path])).status).toBe(0);
    // The variable wins over the file, as for serve.
    const refused = await healthcheck(['--config', path], { DSQL_PROXY_HTTP_LISTEN: String(await freePort()) });
    expect(refused.status).toBe(1);
  });

  it.each([
    [[], {}, '--http-listen: required: healthcheck asks /readiness of a dsql-proxy serving --http-listen'],
    [['--http-listen', 'not a host'], {}, '--http-listen: '],
    [['--http-listn', '9090'], {}, 'Did you mean --http-listen (not --http-listn)?'],
    [[], { DSQL_PROXY_CONFIG: '/nonexistent/c.json' }, '--config: cannot read "/nonexistent/c.json": ENOENT'],
  ] as const)('exits 2 on %j %j', async (args, env, message) => {
    const result = await healthcheck([...args], { ...env });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(message);
  });
});

// Against the real --http-listen server (src/http/health-server.ts, filled in by the metrics change).
describe('dsql-proxy healthcheck against a running dsql-proxy', () => {
  const serveArgs = (): string[] => [
    '--cluster-id', CLUSTER_ID, '--endpoint', `127.0.0.1:${rig.emulator.port}`, '--region', REGION,
    '--service-identifier', SERVICE_ID, '--ca-file', rig.ca.certFile, '--listen', '127.0.0.1:0',
  ];

  async function serving(extra: string[] = []): Promise<{ proxy: ServiceProcess; env: Record<string, string> }> {
    const env = { ...CREDENTIAL_ENV, DSQL_PROXY_HTTP_LISTEN: `127.0.0.1:${await freePort()}` };
    return { proxy: await spawnService([...serveArgs(), ...extra], env), env };
  }

  it('exits 0 while the proxy serves and 1 once it has stopped', async () => {
    const { proxy, env } = await serving();
    try {
      const ready = await healthcheck([], env);
      expect(ready.status, ready.stderr).toBe(0);
      expect(await proxy.stop()).toBe(0);
      const stopped = await healthcheck([], env);
      expect(stopped.status).toBe(1);
      expect(stopped.stderr).toContain('could not be reached: ECONNREFUSED');
    } finally {
      if (proxy.child.exitCode === null) await proxy.stop('SIGKILL');
    }
  });

  it('exits 1 while --max-connections clients are connected, 0 again once one leaves', async () => {
    const { proxy, env } = await serving(['--max-connections', '1']);
    try {
      const client = await pgClient(proxy.ports[0]!);
      try {
        const full = await healthcheck([], env);
        expect(full.status).toBe(1);
        expect(full.stderr).toContain('answered 503');
      } finally {
        await client.end();
      }
      expect(await eventually(() => proxy.lines().some((l) => l.msg === 'connection closed'))).toBe(true);
      const again = await healthcheck([], env);
      expect(again.status, again.stderr).toBe(0);
    } finally {
      await proxy.stop();
    }
  });
});
