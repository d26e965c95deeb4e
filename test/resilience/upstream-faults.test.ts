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
/** Opens TLS directly (the default). */
let proxy: TestProxy;
/** Sends an SSLRequest first (--ssl-negotiation postgres). */
let viaSslRequest: TestProxy;

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
  viaSslRequest = await startTestProxy(emulator.port, ca, { connectTimeout: 1, sslNegotiation: 'postgres' });
});
afterAll(async () => {
  await proxy?.proxy.close();
  await viaSslRequest?.proxy.close();
  await emulator?.stop();
  expectNoSecrets(proxy.logs.text);
  expectNoSecrets(viaSslRequest.logs.text);
});

/** The proxy serves a good client right after the fault (same proxy, fault cleared). */
async function stillServes(via: TestProxy): Promise<void> {
  emulator.fault = undefined;
  const client = await pgClient(via.port);
  const { rows } = await client.query<{ ok: number }>('select 1 as ok');
  expect(rows).toEqual([{ ok: 1 }]);
  await client.end();
}

describe('upstream faults before the relay: the client gets a FATAL it can act on, promptly', () => {
  it.each<[string, 'direct' | 'postgres', EmulatorFault, string, RegExp, RegExp | undefined]>([
    ['accepts then closes (SSL request)', 'postgres', { kind: 'close-on-accept' }, '08001', /closed the connection before answering the SSL request|ECONNRESET/, undefined],
    ['accepts then closes (direct TLS)', 'direct', { kind: 'close-on-accept' }, '08001', /TLS with .* failed|ECONNRESET/, /--ssl-negotiation postgres/],
    ['never answers the SSL request', 'postgres', { kind: 'ignore-ssl-request' }, '08001', /within 1 s: TCP connected but the SSL request got no answer/, undefined],
    ['answers N to the SSL request', 'postgres', { kind: 'refuse-tls' }, '08001', /refused TLS \(answered N to the SSL request\)/, undefined],
    ['stalls in the TLS handshake (SSL request)', 'postgres', { kind: 'stall-tls' }, '08001', /within 1 s: the TLS handshake did not complete/, /and the SSL request/],
    ['stalls in the TLS handshake (direct TLS)', 'direct', { kind: 'stall-tls' }, '08001', /within 1 s: the TLS handshake did not complete/, /--ssl-negotiation postgres/],
    ['answers direct TLS like a server before PostgreSQL 17', 'direct', { kind: 'no-direct-tls' }, '08001', /TLS with .* failed: wrong version number \(ERR_SSL_WRONG_VERSION_NUMBER\)$/, /--ssl-negotiation postgres/],
    ['sends garbage instead of an authentication request', 'direct', { kind: 'garbage-auth' }, '08P01', /invalid message length/, undefined],
  ])('%s', async (_name, negotiation, fault, sqlstate, message, hint) => {
    const via = negotiation === 'direct' ? proxy : viaSslRequest;
    emulator.fault = fault;
    const started = Date.now();
    const error = await connectError(via.port);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(error.code).toBe(sqlstate);
    expect(error.message).toMatch(message);
    if (hint) expect(error.hint).toMatch(hint);
    const line = via.logs.withMessage('connection failed before relay').at(-1)!;
    expect(line).toMatchObject({ level: 40, sqlstate });
    await stillServes(via);
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
    await stillServes(proxy);
  });

  it('a connection dropped in the middle of a result ends the client\'s query promptly', async () => {
    emulator.fault = { kind: 'close-mid-result', bytes: 200_000 };
    const client = await pgClient(proxy.port);
    const started = Date.now();
    await expect(client.query("select repeat('x', 1000) from generate_series(1, 10000)")).rejects.toThrow(/Connection terminated/);
    expect(Date.now() - started).toBeLessThan(2_000);
    await stillServes(proxy);
  });
});
