import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueExpiredServerCert, makeCa, selfSignedServerCert } from '../support/certs.js';
import { DsqlEmulator, type EmulatorFault } from '../support/emulator.js';
import {
  REGION, SERVICE_ID, TEST_CREDENTIALS, connectError, expectNoSecrets, pgClient, postgres, startTestProxy, type TestProxy,
} from '../support/harness.js';
import { issueServerCert } from '../support/certs.js';

const ca = makeCa();
const names = [`*.${SERVICE_ID}.${REGION}.on.aws`, `*.dsql.${REGION}.on.aws`];
let emulator: DsqlEmulator;
let proxy: TestProxy;

function emulatorWith(identity = issueServerCert(ca, names)): DsqlEmulator {
  return new DsqlEmulator({
    postgres: postgres(), identity, region: REGION, serviceIdentifier: SERVICE_ID, clusters: ['abcdefghijklmnopqrstuvwxyz'],
    secrets: new Map([[TEST_CREDENTIALS.accessKeyId, TEST_CREDENTIALS.secretAccessKey]]),
  });
}

beforeAll(async () => {
  emulator = emulatorWith();
  await emulator.start();
  proxy = await startTestProxy(emulator.port, ca, { connectTimeout: 1 });
});
afterAll(async () => {
  await proxy?.proxy.close();
  await emulator?.stop();
  expectNoSecrets(proxy.logs.text);
});

/** The proxy serves a good client right after the fault (same proxy, fault cleared). */
async function stillServes(): Promise<void> {
  emulator.fault = undefined;
  const client = await pgClient(proxy.port);
  const { rows } = await client.query<{ ok: number }>('select 1 as ok');
  expect(rows).toEqual([{ ok: 1 }]);
  await client.end();
}

describe('upstream faults before the relay: the client gets a FATAL it can act on, promptly', () => {
  it.each<[string, EmulatorFault, string, RegExp]>([
    ['accepts then closes', { kind: 'close-on-accept' }, '08001', /closed the connection before answering the SSL request|ECONNRESET/],
    ['never answers the SSL request', { kind: 'ignore-ssl-request' }, '08001', /within 1 s: TCP connected but the SSL request got no answer/],
    ['answers N to the SSL request', { kind: 'refuse-tls' }, '08001', /refused TLS \(answered N to the SSL request\)/],
    ['stalls in the TLS handshake', { kind: 'stall-tls' }, '08001', /within 1 s: the TLS handshake did not complete/],
    ['sends garbage instead of an authentication request', { kind: 'garbage-auth' }, '08P01', /invalid message length/],
  ])('%s', async (_name, fault, sqlstate, message) => {
    emulator.fault = fault;
    const started = Date.now();
    const error = await connectError(proxy.port);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(error.code).toBe(sqlstate);
    expect(error.message).toMatch(message);
    const line = proxy.logs.withMessage('connection failed before relay').at(-1)!;
    expect(line).toMatchObject({ level: 40, sqlstate });
    await stillServes();
  });

  it.each([
    ['an expired certificate', () => issueExpiredServerCert(ca, names), /CERT_HAS_EXPIRED/],
    ['a self-signed certificate', () => selfSignedServerCert(names), /DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED/],
  ])('%s → 08001 naming the certificate problem', async (_name, identity, reason) => {
    const bad = emulatorWith(identity());
    await bad.start();
    const viaBad = await startTestProxy(bad.port, ca, { connectTimeout: 1 });
    try {
      const error = await connectError(viaBad.port);
      expect(error.code).toBe('08001');
      expect(error.message).toMatch(reason);
      expect(error.hint).toMatch(/--ca-file/);
    } finally {
      await viaBad.proxy.close();
      await bad.stop();
    }
  });
});

describe('upstream faults during the relay: the client sees the end promptly', () => {
  it('a FATAL and close after N seconds (the 60-minute limit, shortened) reaches the client', async () => {
    emulator.fault = { kind: 'terminate-after', ms: 500 };
    const client = await pgClient(proxy.port);
    const errored = new Promise<Error & { code?: string }>((resolve) => client.once('error', resolve));
    await client.query('select 1');
    const started = Date.now();
    const error = await errored;
    expect(error.code).toBe('57P01');
    expect(Date.now() - started).toBeLessThan(2_000);
    await new Promise((r) => setTimeout(r, 100));
    expect(proxy.logs.withMessage('connection closed').at(-1)).toMatchObject({ outcome: 'relayed', closedBy: 'server' });
    await stillServes();
  });

  it('a connection dropped in the middle of a result ends the client\'s query promptly', async () => {
    emulator.fault = { kind: 'close-mid-result', bytes: 200_000 };
    const client = await pgClient(proxy.port);
    const started = Date.now();
    await expect(client.query("select repeat('x', 1000) from generate_series(1, 10000)")).rejects.toThrow(/Connection terminated/);
    expect(Date.now() - started).toBeLessThan(2_000);
    await stillServes();
  });
});
