import { Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createDialer } from '../../src/upstream/dialer.js';
import { CLUSTER_HOSTNAME, useRig } from '../support/harness.js';

const rig = useRig({ proxy: false });

describe('dialer', () => {
  it.each(['direct', 'postgres'] as const)('with --ssl-negotiation %s, opens TLS the way the emulator (like DSQL) records', async (sslNegotiation) => {
    const dialer = createDialer({ host: '127.0.0.1', port: rig.emulator.port, servername: CLUSTER_HOSTNAME,
      certificateNames: [CLUSTER_HOSTNAME], sslNegotiation, ca: [rig.ca.cert], timeoutMs: 5_000 });
    const before = rig.emulator.records.length;
    const { socket } = await dialer.dial();
    expect((socket as TLSSocket).alpnProtocol).toBe('postgresql');
    socket.end();
    await waitFor(() => rig.emulator.records.length > before && rig.emulator.records.at(-1)!.sni !== undefined);
    const record = rig.emulator.records.at(-1)!;
    expect(record.directTls ?? false).toBe(sslNegotiation === 'direct');
    expect(record.alpn).toBe('postgresql');
    expect(record.sni).toBe(CLUSTER_HOSTNAME);
  });

  it('the emulator, like PostgreSQL 17, refuses direct TLS that did not negotiate ALPN postgresql', async () => {
    const before = rig.emulator.records.length;
    const socket = new Socket();
    await new Promise<void>((resolve) => socket.connect(rig.emulator.port, '127.0.0.1', resolve));
    const secure = tlsConnect({ socket, servername: CLUSTER_HOSTNAME, ca: [rig.ca.cert] });
    const closed = new Promise<void>((resolve) => secure.once('close', () => resolve()));
    secure.on('error', () => undefined);
    await closed;
    expect(rig.emulator.records.slice(before).map((r) => r.rejection)).toContain('direct TLS without ALPN postgresql');
  });

  it('resumes the TLS session on later connections, after one full verified handshake', async () => {
    const dialer = createDialer({ host: '127.0.0.1', port: rig.emulator.port, servername: CLUSTER_HOSTNAME,
      certificateNames: [CLUSTER_HOSTNAME], sslNegotiation: 'direct', ca: [rig.ca.cert], timeoutMs: 5_000 });
    const first = (await dialer.dial()).socket as TLSSocket;
    expect(first.isSessionReused()).toBe(false);
    // TLS 1.3 tickets arrive after the handshake: give the first connection a moment to receive one.
    await new Promise((r) => setTimeout(r, 50));
    first.destroy();
    const second = (await dialer.dial()).socket as TLSSocket;
    expect(second.isSessionReused()).toBe(true);
    expect(second.servername).toBe(CLUSTER_HOSTNAME);
    second.destroy();
  });

  it('does not resume for a dialer that fails verification, since it never completed a handshake', async () => {
    const dialer = createDialer({ host: '127.0.0.1', port: rig.emulator.port, servername: CLUSTER_HOSTNAME,
      certificateNames: ['another.name.on.aws'], sslNegotiation: 'direct', ca: [rig.ca.cert], timeoutMs: 5_000 });
    await expect(dialer.dial()).rejects.toMatchObject({ sqlstate: '08001' });
    await expect(dialer.dial()).rejects.toMatchObject({ sqlstate: '08001' });
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
