import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_STARTUP_PACKET_LENGTH } from '../../src/protocol/codes.js';
import { parseErrorResponse, sslRequest } from '../../src/protocol/messages.js';
import { serializeStartupMessage } from '../../src/protocol/startup.js';
import type { TestCa } from '../support/certs.js';
import type { DsqlEmulator } from '../support/emulator.js';
import {
  CLUSTER_HOSTNAME, CLUSTER_ID, REGION, connectError, expectNoSecrets, psql, startEmulator, startTestProxy, TEST_CREDENTIALS, type TestProxy,
} from '../support/harness.js';
import { freePort } from '../support/postgres.js';
import { RawClient } from '../support/raw-client.js';

let emulator: DsqlEmulator;
let ca: TestCa;
const proxies: TestProxy[] = [];

async function proxyFor(...args: Parameters<typeof startTestProxy>): Promise<TestProxy> {
  const proxy = await startTestProxy(...args);
  proxies.push(proxy);
  return proxy;
}

beforeAll(async () => {
  ({ emulator, ca } = await startEmulator());
});
afterAll(async () => {
  for (const p of proxies) {
    await p.proxy.close();
    expectNoSecrets(p.logs.text);
  }
  await emulator?.stop();
});

/** Every client-visible failure must carry no secret. */
function expectUsable(error: Error & { hint?: string }): void {
  expectNoSecrets(`${error.message} ${error.hint ?? ''}`);
}

describe('failures before the relay reach the client as FATAL errors', () => {
  it('a certificate for another name under --route sni → 08001 naming the certificate\'s names, the expected one, --certificate-name and the doctor', async () => {
    const wrong = await startEmulator({ certNames: [`*.dsql-other.${REGION}.on.aws`] });
    try {
      const proxy = await proxyFor(wrong.emulator.port, wrong.ca);
      const error = await connectError(proxy.port);
      expect(error.code).toBe('08001');
      expect(error.severity).toBe('FATAL');
      expect(error.message).toMatch(/TLS with 127\.0\.0\.1:\d+ failed: .*ERR_TLS_CERT_ALTNAME_INVALID/);
      expect(error.message).toContain(`the certificate is valid for *.dsql-other.${REGION}.on.aws, not for ${CLUSTER_HOSTNAME}`);
      expect(error.hint).toContain('No token was sent');
      expect(error.hint).toContain('--certificate-name');
      expect(error.hint).toContain('dsql-proxy doctor');
      expectUsable(error);
      // The option route checks the name too (no token for a server that is not this cluster's)...
      const optionProxy = await proxyFor(wrong.emulator.port, wrong.ca, { route: 'option', endpoint: `localhost:${wrong.emulator.port}` });
      expect((await connectError(optionProxy.port)).message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
      // ...and --certificate-name names what to expect instead.
      const named = await proxyFor(wrong.emulator.port, wrong.ca, {
        route: 'option', endpoint: `localhost:${wrong.emulator.port}`, certificateName: `${CLUSTER_ID}.dsql-other.${REGION}.on.aws`,
      });
      const ok = await psql(named.port, ['-At', '-c', 'select 1']);
      expect(ok.stdout.trim(), ok.stderr).toBe('1');
    } finally {
      await wrong.emulator.stop();
    }
  });

  it('a token the endpoint rejects → its FATAL reaches the client unchanged', async () => {
    const proxy = await proxyFor(emulator.port, ca, {}, { credentials: async () => ({ ...TEST_CREDENTIALS, secretAccessKey: 'not-the-secret' }) });
    const before = emulator.records.length;
    const error = await connectError(proxy.port);
    expect(error.code).toBe('28P01');
    expect(error.message).toBe('IAM authentication failed for user "admin"');
    expect(emulator.records.slice(before).find((r) => r.kind === 'startup')!.rejection).toMatch(/signature does not match/);
    const line = proxy.logs.withMessage('server rejected the connection').at(-1)!;
    expect(line).toMatchObject({ sqlstate: '28P01', error: 'IAM authentication failed for user "admin"' });
    expect(proxy.logs.withMessage('connection closed').at(-1)!.outcome).toBe('rejected-by-server');
  });

  it('an expired token (endpoint clock 20 minutes ahead) is rejected by the endpoint', async () => {
    const late = await startEmulator({ clockOffsetMs: 20 * 60 * 1000 });
    try {
      const proxy = await proxyFor(late.emulator.port, late.ca);
      const error = await connectError(proxy.port);
      expect(error.code).toBe('28P01');
      expect(late.emulator.records.find((r) => r.kind === 'startup')!.rejection).toMatch(/expired/);
    } finally {
      await late.emulator.stop();
    }
  });

  it('an endpoint port with nothing listening → 08001 with a hint about the address and port', async () => {
    const proxy = await proxyFor(await freePort(), ca);
    const error = await connectError(proxy.port);
    expect(error.code).toBe('08001');
    expect(error.message).toMatch(/could not connect to 127\.0\.0\.1:\d+ \(tried 127\.0\.0\.1: ECONNREFUSED\)/);
    expect(error.hint).toMatch(/check the address and port in --endpoint/);
  });

  it.each([
    ['postgres', /within 1 s: TCP connected but the SSL request got no answer/, /not answering like DSQL/],
    ['direct', /within 1 s: the TLS handshake did not complete/, /stalled in the TLS handshake.*--ssl-negotiation postgres/],
  ] as const)('an endpoint that accepts but never answers (--ssl-negotiation %s) → 08001 within the connect timeout, hint about what answered', async (sslNegotiation, message, hint) => {
    const held: Socket[] = [];
    const silent: Server = createServer((s) => { held.push(s); });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const proxy = await proxyFor((silent.address() as { port: number }).port, ca, { connectTimeout: 1, sslNegotiation });
      const started = Date.now();
      const error = await connectError(proxy.port);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThan(5_000);
      expect(error.code).toBe('08001');
      expect(error.message).toMatch(/could not connect to 127\.0\.0\.1:\d+ within 1 s/);
      expect(error.message).toMatch(message);
      expect(error.hint).toMatch(hint);
    } finally {
      for (const s of held) s.destroy();
      silent.close();
    }
  });

  it('an endpoint name that does not resolve → 08001 with a hint about the endpoint name and private DNS', async () => {
    const proxy = await proxyFor(emulator.port, ca, { endpoint: 'vpce-0aaa-bbb.dsql-test1.us-east-1.vpce.amazonaws.com' }, {
      resolve: async () => { throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }); },
    });
    const error = await connectError(proxy.port);
    expect(error.code).toBe('08001');
    expect(error.message).toBe('could not resolve endpoint "vpce-0aaa-bbb.dsql-test1.us-east-1.vpce.amazonaws.com" (ENOTFOUND)');
    expect(error.hint).toMatch(/DnsEntries/);
    expect(error.hint).toMatch(/Route 53 Resolver/);
  });

  it('an upstream that asks for SASL → FATAL naming the method', async () => {
    const sasl = await startEmulator({ authRequest: 'sasl' });
    try {
      const proxy = await proxyFor(sasl.emulator.port, sasl.ca);
      const error = await connectError(proxy.port);
      expect(error.code).toBe('28000');
      expect(error.message).toMatch(/requested SASL \(SCRAM\) authentication/);
      expect(error.hint).toMatch(/Aurora DSQL connection endpoint/);
    } finally {
      await sasl.emulator.stop();
    }
  });

  it('credentials that cannot be resolved → 28000 with a hint, and the proxy stays up', async () => {
    let fail = true;
    const proxy = await proxyFor(emulator.port, ca, { profile: 'dev' }, {
      credentials: async () => {
        if (fail) throw Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
        return { ...TEST_CREDENTIALS };
      },
    });
    const error = await connectError(proxy.port);
    expect(error.code).toBe('28000');
    expect(error.message).toMatch(/could not sign an IAM token: AWS credentials could not be resolved \(Could not load credentials from any providers\)/);
    expect(error.hint).toContain('aws sso login --profile dev');
    expect(error.hint).toContain('environment variables');
    fail = false;
    const ok = await psql(proxy.port, ['-At', '-c', 'select 1']);
    expect(ok.stdout.trim(), ok.stderr).toBe('1');
  });

  it('a startup packet over 10,000 bytes → 08P01 and the socket is closed', async () => {
    const proxy = await proxyFor(emulator.port, ca);
    const client = await RawClient.connect(proxy.port);
    client.send(serializeStartupMessage(196608, [['user', 'admin'], ['options', 'x'.repeat(MAX_STARTUP_PACKET_LENGTH)]]));
    const frame = await client.next();
    expect(parseErrorResponse(frame!)).toMatchObject({ severity: 'FATAL', code: '08P01', message: expect.stringMatching(/invalid length of startup packet/) });
    await client.closed;
  });

  it('an unknown request code → 08P01', async () => {
    const proxy = await proxyFor(emulator.port, ca);
    const client = await RawClient.connect(proxy.port);
    client.send(Buffer.from([0, 0, 0, 8, 0x00, 0x07, 0x00, 0x00]));
    expect(parseErrorResponse((await client.next())!)).toMatchObject({ code: '08P01', message: expect.stringMatching(/unsupported frontend protocol 7\.0/) });
    await client.closed;
  });

  it('a client that sends no complete startup in time is told so and closed', async () => {
    const proxy = await proxyFor(emulator.port, ca, { startupTimeout: 0.5 });
    const socket = connect(proxy.port, '127.0.0.1');
    let received = Buffer.alloc(0);
    socket.on('data', (c: Buffer) => { received = Buffer.concat([received, c]); });
    const closed = new Promise((resolve) => socket.once('close', resolve));
    const started = Date.now();
    socket.write(sslRequest());
    socket.write(Buffer.from([0, 0, 0, 50, 0, 3])); // half a startup packet, then silence
    await closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(received.subarray(0, 1).toString()).toBe('N');
    expect(parseErrorResponse(received.subarray(1))).toMatchObject({ code: '08P01', message: 'no startup packet received within 0.5 s' });
  });

  it('keeps serving good clients after all of the above', async () => {
    const proxy = await proxyFor(emulator.port, ca);
    const ok = await psql(proxy.port, ['-At', '-c', 'select 2']);
    expect(ok.stdout.trim(), ok.stderr).toBe('2');
  });
});
