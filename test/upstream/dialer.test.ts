import type { TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createDialer } from '../../src/upstream/dialer.js';
import { CLUSTER_HOSTNAME, useRig } from '../support/harness.js';

const rig = useRig({ proxy: false });

describe('dialer', () => {
  it('resumes the TLS session on later connections, after one full verified handshake', async () => {
    const dialer = createDialer({ host: '127.0.0.1', port: rig.emulator.port, servername: CLUSTER_HOSTNAME,
      certificateName: CLUSTER_HOSTNAME, ca: [rig.ca.cert], timeoutMs: 5_000 });
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
      certificateName: 'another.name.on.aws', ca: [rig.ca.cert], timeoutMs: 5_000 });
    await expect(dialer.dial()).rejects.toMatchObject({ sqlstate: '08001' });
    await expect(dialer.dial()).rejects.toMatchObject({ sqlstate: '08001' });
  });
});
