import { Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startHealthServer, type HealthServer, type HealthServerOptions } from '../../src/http/health-server.js';
import { MetricsRegistry } from '../../src/metrics/registry.js';
import { captureLogger, FakeSource, fetchRaw } from './http-helpers.js';

const servers: HealthServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(source = new FakeSource(), metrics = new MetricsRegistry({ version: '1.0.0' }), options: HealthServerOptions = {},
  log = captureLogger()): Promise<{ server: HealthServer; port: number; source: FakeSource; metrics: MetricsRegistry }> {
  const server = await startHealthServer({ host: '127.0.0.1', port: 0 }, source, metrics, log, options);
  servers.push(server);
  return { server, port: server.address.port, source, metrics };
}

/** Resolves with the milliseconds until the server closes `socket`. */
function closedAfter(socket: Socket): Promise<number> {
  const began = performance.now();
  return new Promise((resolve) => {
    socket.on('error', () => undefined);
    socket.resume(); // a paused socket never sees the server's FIN as 'end'
    socket.on('close', () => resolve(performance.now() - began));
  });
}

/** A raw TCP connection to the server, once connected. */
function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('health server', () => {
  it('binds the real port when asked for port 0', async () => {
    const { server } = await start();
    expect(server.address.host).toBe('127.0.0.1');
    expect(server.address.port).toBeGreaterThan(0);
  });

  it('answers /startup with 503 until the source says started, then 200', async () => {
    const { port, source } = await start();
    const before = await fetchRaw(port, '/startup');
    expect(before.status).toBe(503);
    source.isStarted = true;
    const after = await fetchRaw(port, '/startup');
    expect([after.status, after.body]).toEqual([200, 'started\n']);
  });

  it('answers /liveness with 200 and a short text', async () => {
    const { port } = await start();
    const res = await fetchRaw(port, '/liveness');
    expect([res.status, res.body, res.headers['content-type']]).toEqual([200, 'alive\n', 'text/plain; charset=utf-8']);
  });

  it('answers /readiness with 503 and the reason while not ready, then 200', async () => {
    const { port, source } = await start();
    source.ready = { ready: false, reason: 'draining: SIGTERM received' };
    const before = await fetchRaw(port, '/readiness');
    expect([before.status, before.body]).toEqual([503, 'not ready: draining: SIGTERM received\n']);
    source.ready = { ready: true };
    const after = await fetchRaw(port, '/readiness?verbose=1');
    expect([after.status, after.body]).toEqual([200, 'ready\n']);
  });

  it('serves /metrics in the text format 0.0.4 with the registry’s current numbers', async () => {
    const { port, metrics } = await start();
    metrics.forListener('abc').connectionAccepted();
    const res = await fetchRaw(port, '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body).toBe(metrics.render());
    expect(res.body).toContain('dsql_proxy_connections_accepted_total{cluster="abc"} 1\n');
  });

  it('answers 404 for other paths and 405 with Allow for other methods', async () => {
    const { port } = await start();
    expect((await fetchRaw(port, '/')).status).toBe(404);
    expect((await fetchRaw(port, '/metrics/extra')).status).toBe(404);
    const post = await fetchRaw(port, '/readiness', { method: 'POST' });
    expect([post.status, post.headers.allow]).toEqual([405, 'GET, HEAD']);
    expect((await fetchRaw(port, '/metrics', { method: 'DELETE' })).status).toBe(405);
  });

  it('answers HEAD with the GET status and headers but no body', async () => {
    const { port, source } = await start();
    source.ready = { ready: false, reason: 'draining' };
    const res = await fetchRaw(port, '/readiness', { method: 'HEAD' });
    expect([res.status, res.body]).toEqual([503, '']);
    expect(Number(res.headers['content-length'])).toBe('not ready: draining\n'.length);
  });

  it('cuts a client that trickles headers and never finishes them once the request timeout passes', async () => {
    const { port } = await start(undefined, undefined, { requestTimeoutMs: 500 });
    const socket = await rawConnect(port);
    const closed = closedAfter(socket);
    socket.write('GET /liveness HTTP/1.1\r\nHost: x\r\n');
    let n = 0;
    const drip = setInterval(() => { if (!socket.destroyed) socket.write(`X-Drip-${n++}: y\r\n`); }, 100);
    const ms = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(Infinity), 5_000))]);
    clearInterval(drip);
    socket.destroy();
    expect(ms).toBeLessThan(2_000);
    expect(n).toBeGreaterThan(2); // it was still sending when cut: the deadline, not an idle timer, ended it
  });

  it('cuts a client that connects and sends nothing', async () => {
    const { port } = await start(undefined, undefined, { requestTimeoutMs: 500 });
    const socket = await rawConnect(port);
    const ms = await Promise.race([closedAfter(socket), new Promise<number>((r) => setTimeout(() => r(Infinity), 5_000))]);
    socket.destroy();
    expect(ms).toBeLessThan(2_000);
  });

  it('closes connections beyond maxConnections at accept', async () => {
    const { port } = await start(undefined, undefined, { maxConnections: 2 });
    const held = [await rawConnect(port), await rawConnect(port)];
    const extra = await rawConnect(port);
    const ms = await Promise.race([closedAfter(extra), new Promise<number>((r) => setTimeout(() => r(Infinity), 2_000))]);
    expect(ms).toBeLessThan(1_000);
    for (const s of held) expect(s.destroyed).toBe(false);
    for (const s of [...held, extra]) s.destroy();
  });

  it('close() resolves promptly while a keep-alive connection is open, and closes it', async () => {
    const { server, port } = await start();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    expect((await fetchRaw(port, '/liveness', { agent })).status).toBe(200);
    const [socket] = Object.values(agent.freeSockets).flat();
    expect(socket).toBeDefined();
    const closed = closedAfter(socket!);
    const began = performance.now();
    await server.close();
    expect(performance.now() - began).toBeLessThan(1_000);
    expect(await closed).toBeLessThan(1_000);
    await server.close(); // a second close is harmless
    agent.destroy();
  });

  it('close() resolves promptly while a client is halfway through a request, and closes it', async () => {
    const { server, port } = await start(); // default 5 s request timeout: only close() can end this one sooner
    const socket = await rawConnect(port);
    const closed = closedAfter(socket);
    socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
    await new Promise((r) => setTimeout(r, 50));
    const began = performance.now();
    await server.close();
    expect(performance.now() - began).toBeLessThan(1_000);
    expect(await closed).toBeLessThan(1_000);
  });

  it('rejects the start with a clear error when the address is in use', async () => {
    const { port } = await start();
    await expect(startHealthServer({ host: '127.0.0.1', port }, new FakeSource(), new MetricsRegistry(), captureLogger()))
      .rejects.toThrow(`cannot listen for HTTP on 127.0.0.1:${port}: the address is in use`);
  });

  it('answers 500 when a metric cannot be read, and logs the failure without the request’s path or headers', async () => {
    const metrics = new MetricsRegistry();
    metrics.gauge('dsql_proxy_broken', 'Broken.', () => { throw new Error('gauge exploded'); });
    const log = captureLogger();
    const { port } = await start(undefined, metrics, {}, log);
    const res = await fetchRaw(port, '/metrics?token=hunter2', { headers: { Authorization: 'Bearer hunter2' } });
    expect(res.status).toBe(500);
    expect(log.lines.join('\n')).toContain('gauge exploded');
    expect(log.lines.join('\n')).not.toContain('hunter2');
  });
});

