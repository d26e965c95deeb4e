import { getEventListeners } from 'node:events';
import type { TLSSocket } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SslNegotiation } from '../../src/config.js';
import { ConnectionFailure, type UpstreamConnection } from '../../src/proxy/ports.js';
import { createDialer, type DialerOptions } from '../../src/upstream/dialer.js';
import { issueServerCert, type ServerIdentity } from '../support/certs.js';
import { CLUSTER_HOSTNAME, VPCE_NAME } from '../support/harness.js';
import { hangingListener, useFakeEndpoints, type FakeEndpoint, type FakeNegotiation } from './fake-endpoint.js';

const fakes = useFakeEndpoints();

function endpoint(negotiation: FakeNegotiation, host = '127.0.0.1', port = 0, serverIdentity?: ServerIdentity): Promise<FakeEndpoint> {
  return fakes.start(negotiation, { host, port, ...(serverIdentity ? { identity: serverIdentity } : {}) });
}

function dialerFor(port: number, sslNegotiation: SslNegotiation, extra: Partial<DialerOptions> = {}) {
  return createDialer({ host: VPCE_NAME, port, servername: CLUSTER_HOSTNAME, certificateNames: [CLUSTER_HOSTNAME],
    sslNegotiation, ca: [fakes.ca.cert], timeoutMs: 5_000, resolve: async () => ['127.0.0.1'], ...extra });
}

/**
 * Timers the dialer's code has started and that have neither fired nor been cleared. Counting only those
 * created from src/upstream keeps the test runner's own timers out of it.
 */
function timers(): number {
  return pendingDialerTimers.size;
}
const pendingDialerTimers = new Set<unknown>();
beforeEach(() => {
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  vi.spyOn(globalThis, 'setTimeout').mockImplementation(((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    if (!new Error().stack?.includes('/src/upstream/')) return realSet(callback, ms, ...args);
    const timer = realSet(() => { pendingDialerTimers.delete(timer); callback(...args); }, ms);
    pendingDialerTimers.add(timer);
    return timer;
  }) as typeof setTimeout);
  vi.spyOn(globalThis, 'clearTimeout').mockImplementation(((timer: NodeJS.Timeout | undefined) => {
    pendingDialerTimers.delete(timer);
    realClear(timer);
  }) as typeof clearTimeout);
});
afterEach(() => { vi.restoreAllMocks(); pendingDialerTimers.clear(); });

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Starts a dial, aborts it once `ready` holds, and returns what it rejected with and how long after the abort. */
async function abortWhen(dial: (signal: AbortSignal) => Promise<UpstreamConnection>, ready: () => boolean, reason?: unknown) {
  const controller = new AbortController();
  const settled = dial(controller.signal).then(() => { throw new Error('the dial succeeded'); }, (error: unknown) => error);
  await waitFor(ready);
  const timersBefore = timers();
  expect(timersBefore).toBeGreaterThan(0); // the dial's deadline
  const aborted = performance.now();
  controller.abort(reason);
  const error = await settled;
  return { error, ms: performance.now() - aborted, timersLeft: timers(), listeners: getEventListeners(controller.signal, 'abort').length };
}

describe('dial({ address })', () => {
  it('dials exactly that address, skipping the resolver, with the same SNI and verification', async () => {
    const pinned = await endpoint('direct', '127.0.0.2');
    const decoy = await endpoint('direct', '127.0.0.1', pinned.port);
    let resolved = 0;
    const dialer = dialerFor(pinned.port, 'direct', { resolve: async () => { resolved++; return ['127.0.0.1']; } });

    const upstream = await dialer.dial({ address: '127.0.0.2' });
    expect(upstream.address).toBe('127.0.0.2');
    expect(upstream.remoteAddress).toBe(`127.0.0.2:${pinned.port}`);
    expect(resolved).toBe(0);
    expect(decoy.connections).toHaveLength(0);
    await waitFor(() => pinned.connections[0]?.secure === true);
    expect(pinned.connections[0]!.sni).toBe(CLUSTER_HOSTNAME);
    upstream.socket.destroy();

    // Without an address the resolver decides (and sends this dial to the decoy).
    (await dialer.dial()).socket.destroy();
    expect(resolved).toBe(1);
    expect(decoy.connections).toHaveLength(1);
  });

  it('a pinned address still has to show a certificate for the expected name', async () => {
    const impostor = await endpoint('postgres', '127.0.0.2', 0, issueServerCert(fakes.ca, ['*.example.com']));
    const dialer = dialerFor(impostor.port, 'postgres');
    await expect(dialer.dial({ address: '127.0.0.2' })).rejects.toMatchObject({
      sqlstate: '08001', message: expect.stringContaining(`the certificate is valid for *.example.com, not for ${CLUSTER_HOSTNAME}`),
    });
  });
});

describe('dial({ signal })', () => {
  it.each(['direct', 'postgres'] as const)(
    'with --ssl-negotiation %s, aborting while a silent server holds the connection rejects at once and closes it',
    async (sslNegotiation) => {
      const silent = await endpoint('silent');
      const dialer = dialerFor(silent.port, sslNegotiation);
      const result = await abortWhen((signal) => dialer.dial({ signal }), () => silent.connections.length === 1);
      expect(result.error).toBeInstanceOf(ConnectionFailure);
      expect(result.error).toMatchObject({ sqlstate: '08001', message: `stopped connecting to ${VPCE_NAME}:${silent.port}: the connection was abandoned` });
      expect(result.ms).toBeLessThan(100);
      expect(result.timersLeft).toBe(0);
      expect(result.listeners).toBe(0);
      await silent.allClosed(1_000);
    });

  it('aborting while a TCP connect hangs (nothing answers the SYN) rejects at once and leaves no socket open', async () => {
    const blackhole = await hangingListener();
    try {
      const sockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
      const before = sockets();
      const dialer = dialerFor(blackhole.port, 'postgres');
      const result = await abortWhen((signal) => dialer.dial({ signal }), () => sockets() > before);
      expect(result.error).toMatchObject({ sqlstate: '08001', message: `stopped connecting to ${VPCE_NAME}:${blackhole.port}: the connection was abandoned` });
      expect(result.ms).toBeLessThan(100);
      expect(result.timersLeft).toBe(0);
      expect(result.listeners).toBe(0);
      await waitFor(() => sockets() === before, 1_000);
    } finally {
      blackhole.stop();
    }
  });

  it('aborting while the name is resolving rejects at once with the signal\'s own ConnectionFailure', async () => {
    let resolving = false;
    const dialer = dialerFor(5432, 'direct', { resolve: () => { resolving = true; return new Promise<string[]>(() => undefined); } });
    const reason = new ConnectionFailure('57P01', 'terminating connection due to administrator command');
    const result = await abortWhen((signal) => dialer.dial({ signal }), () => resolving, reason);
    expect(result.error).toBe(reason);
    expect(result.ms).toBeLessThan(100);
    expect(result.timersLeft).toBe(0);
    expect(result.listeners).toBe(0);
  });

  it('an already aborted signal opens no connection', async () => {
    const server = await endpoint('direct');
    await expect(dialerFor(server.port, 'direct').dial({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(ConnectionFailure);
    await new Promise((r) => setTimeout(r, 20));
    expect(server.connections).toHaveLength(0);
  });

  it.each(['direct', 'postgres'] as const)('with --ssl-negotiation %s, a dial that settles leaves no timer and no abort listener behind', async (sslNegotiation) => {
    const server = await endpoint(sslNegotiation);
    const controller = new AbortController();
    const upstream = await dialerFor(server.port, sslNegotiation).dial({ signal: controller.signal });
    expect((upstream.socket as TLSSocket).alpnProtocol).toBe('postgresql');
    expect(timers()).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    upstream.socket.destroy();

    const failing = dialerFor(server.port, sslNegotiation, { certificateNames: ['other.example.com'] });
    await expect(failing.dial({ signal: controller.signal })).rejects.toBeInstanceOf(ConnectionFailure);
    expect(timers()).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});
