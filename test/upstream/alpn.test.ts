import type { TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import type { SslNegotiation } from '../../src/config.js';
import { createDialer } from '../../src/upstream/dialer.js';
import { CLUSTER_HOSTNAME } from '../support/harness.js';
import { useFakeEndpoints, type FakeEndpoint, type FakeNegotiation } from './fake-endpoint.js';

const fakes = useFakeEndpoints();

function endpoint(negotiation: FakeNegotiation, alpn: boolean): Promise<FakeEndpoint> {
  return fakes.start(negotiation, { alpn });
}

function dialerFor(server: FakeEndpoint, sslNegotiation: SslNegotiation) {
  return createDialer({ host: '127.0.0.1', port: server.port, servername: CLUSTER_HOSTNAME, certificateNames: [CLUSTER_HOSTNAME],
    sslNegotiation, ca: [fakes.ca.cert], timeoutMs: 5_000 });
}

describe('ALPN "postgresql"', () => {
  it('direct TLS to a server that does not select ALPN postgresql fails, naming the cause and the fallback', async () => {
    const server = await endpoint('direct', false);
    await expect(dialerFor(server, 'direct').dial()).rejects.toMatchObject({
      sqlstate: '08001',
      message: `TLS with 127.0.0.1:${server.port} failed: the server did not negotiate ALPN protocol "postgresql", which direct TLS requires`,
      hint: expect.stringContaining('--ssl-negotiation postgres'),
    });
    await server.allClosed();
    expect(server.connections.map((c) => c.applicationBytes)).toEqual([0]);
  });

  it('after an SSLRequest, a server without ALPN is accepted (ALPN stays optional there)', async () => {
    const server = await endpoint('postgres', false);
    const { socket } = await dialerFor(server, 'postgres').dial();
    expect((socket as TLSSocket).alpnProtocol).toBe(false);
    socket.destroy();
  });

  it('a resumed direct handshake is held to ALPN too', async () => {
    const server = await endpoint('direct', true);
    const dialer = dialerFor(server, 'direct');
    const first = (await dialer.dial()).socket as TLSSocket;
    expect(first.alpnProtocol).toBe('postgresql');
    // TLS 1.3 tickets arrive after the handshake: give the first connection a moment to receive one.
    await new Promise((r) => setTimeout(r, 50));
    first.destroy();
    server.alpn = false;
    await expect(dialer.dial()).rejects.toMatchObject({ message: expect.stringContaining('did not negotiate ALPN protocol "postgresql"') });
    await server.allClosed();
    expect(server.connections[1]).toMatchObject({ resumed: true, applicationBytes: 0 });
  });
});
