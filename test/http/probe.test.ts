import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startHealthServer, type HealthServer } from '../../src/http/health-server.js';
import { connectHost, probe } from '../../src/http/probe.js';
import { MetricsRegistry } from '../../src/metrics/registry.js';
import { captureLogger, FakeSource } from './http-helpers.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((f) => f()));
});

async function healthServer(source: FakeSource, host = '127.0.0.1'): Promise<HealthServer> {
  const server = await startHealthServer({ host, port: 0 }, source, new MetricsRegistry(), captureLogger());
  cleanup.push(() => server.close());
  return server;
}

/** A TCP server on 127.0.0.1 that accepts connections and never answers. */
async function silentServer(): Promise<number> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    for (const socket of sockets) socket.destroy();
  }));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

/** A port nothing listens on: bound once, then released. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

describe('probe', () => {
  it('resolves with 200 and the body when /readiness is ready', async () => {
    const source = new FakeSource();
    source.ready = { ready: true };
    const server = await healthServer(source);
    expect(await probe(`http://127.0.0.1:${server.address.port}/readiness`, 2_000)).toEqual({ status: 200, body: 'ready\n' });
  });

  it('resolves with 503 and the reason when not ready (the status is the caller’s to judge)', async () => {
    const server = await healthServer(new FakeSource());
    const result = await probe({ host: '127.0.0.1', port: server.address.port, path: '/readiness' }, 2_000);
    expect(result).toEqual({ status: 503, body: 'not ready: draining\n' });
  });

  it('rejects naming the URL when nothing listens there', async () => {
    const port = await freePort();
    await expect(probe({ host: '127.0.0.1', port, path: '/readiness' }, 2_000))
      .rejects.toThrow(`nothing listens on http://127.0.0.1:${port}/readiness (connection refused)`);
  });

  it('rejects after the timeout when the server accepts and never answers', async () => {
    const port = await silentServer();
    const began = performance.now();
    await expect(probe({ host: '127.0.0.1', port, path: '/readiness' }, 300))
      .rejects.toThrow(`no answer from http://127.0.0.1:${port}/readiness within 300 ms`);
    expect(performance.now() - began).toBeLessThan(2_000);
  });

  it('reaches a server listening on every interface through loopback', async () => {
    const source = new FakeSource();
    source.isStarted = true;
    const server = await healthServer(source, '0.0.0.0');
    expect(server.address.host).toBe('0.0.0.0');
    expect(await probe({ ...server.address, path: '/startup' }, 2_000)).toEqual({ status: 200, body: 'started\n' });
    expect(await probe(`http://0.0.0.0:${server.address.port}/startup`, 2_000)).toEqual({ status: 200, body: 'started\n' });
  });

  it('maps wildcard listen addresses to the loopback address of their family', () => {
    expect(['0.0.0.0', '', '::', '[::]', '::1', 'localhost', '10.0.0.5'].map(connectHost))
      .toEqual(['127.0.0.1', '127.0.0.1', '::1', '::1', '::1', 'localhost', '10.0.0.5']);
  });

  it('refuses a URL that is not http://', async () => {
    await expect(probe('https://127.0.0.1:1/readiness', 1_000)).rejects.toThrow('only http:// URLs are supported');
  });
});
