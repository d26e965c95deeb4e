import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { serializeStartupMessage } from '../../src/protocol/startup.js';
import {
  CLUSTER_ID, REGION, SERVICE_ID, TEST_CREDENTIALS, connectError, expectNoSecrets, pgClient, spawnProxy, startTestProxy, useRig,
} from '../support/harness.js';
import { queryMessage, readUntilReady } from '../support/raw-client.js';

const rig = useRig({ proxy: false });

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

describe('backpressure', () => {
  it('a client that stops reading a 500 MB result keeps the proxy within 64 MB of its baseline, and resumes', async () => {
    const proxy = await spawnProxy(['--cluster-id', CLUSTER_ID, '--endpoint', `127.0.0.1:${rig.emulator.port}`, '--region', REGION,
      '--service-identifier', SERVICE_ID, '--ca-file', rig.ca.certFile],
    { AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey });
    const socket = connect(proxy.port, '127.0.0.1');
    try {
      await new Promise((r) => socket.once('connect', r));
      socket.write(serializeStartupMessage(196608, [['user', 'admin'], ['database', 'postgres']]));
      await readUntilReady(socket);
      await new Promise((r) => setTimeout(r, 500));
      const baseline = rssMb(proxy.child.pid!);
      const result = readUntilReady(socket);
      socket.write(queryMessage("select repeat('x', 1000) from generate_series(1, 500000)"));
      await new Promise((r) => setTimeout(r, 300));
      socket.pause();
      await new Promise((r) => setTimeout(r, 3_000));
      const stalled = rssMb(proxy.child.pid!);
      console.log(`backpressure: proxy RSS ${baseline.toFixed(0)} MB before, ${stalled.toFixed(0)} MB with the reader stopped`);
      expect(stalled - baseline).toBeLessThan(64);
      socket.resume();
      const bytes = await result;
      expect(bytes).toBeGreaterThan(500_000 * 1000);
      expectNoSecrets(proxy.stderr());
    } finally {
      socket.destroy();
      await proxy.stop();
    }
  }, 120_000);
});

describe('credentials that start failing', () => {
  it('refuse new connections with 28000 while established sessions carry on, and recover without a restart', async () => {
    let failing = false;
    const proxy = await startTestProxy(rig.emulator.port, rig.ca, {}, {
      credentials: async () => {
        if (failing) throw Object.assign(new Error('The SSO session associated with this profile has expired'), { name: 'CredentialsProviderError' });
        return { ...TEST_CREDENTIALS };
      },
    });
    try {
      const established = await pgClient(proxy.port);
      failing = true;
      // A role with no token signed yet, so the token cache cannot hide the failure.
      const error = await connectError(proxy.port, 'app_reader');
      expect(error.code).toBe('28000');
      expect(error.message).toMatch(/SSO session associated with this profile has expired/);
      const { rows } = await established.query<{ n: number }>('select 2 as n');
      expect(rows).toEqual([{ n: 2 }]);
      failing = false;
      const recovered = await pgClient(proxy.port, 'app_reader');
      expect((await recovered.query<{ u: string }>('select current_user as u')).rows).toEqual([{ u: 'app_reader' }]);
      await recovered.end();
      await established.end();
      expectNoSecrets(proxy.logs.text);
    } finally {
      await proxy.proxy.close();
    }
  });
});
