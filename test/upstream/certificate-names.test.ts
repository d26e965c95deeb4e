import { X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionFailure } from '../../src/proxy/ports.js';
import { checkCertificateNames, createDialer } from '../../src/upstream/dialer.js';
import { issueServerCert, makeCa, type TestCa } from '../support/certs.js';
import {
  CLUSTER_ID, REGION, SERVICE_ID, VPCE_NAME, connectError, expectNoSecrets, psql, startEmulator, startTestProxy,
} from '../support/harness.js';
import { FakeEndpoint } from './fake-endpoint.js';

/** The names the option route accepts for this cluster when the service identifier is known. */
const PRIVATE_NAME = `${CLUSTER_ID}.${SERVICE_ID}.${REGION}.on.aws`;
const PUBLIC_NAME = `${CLUSTER_ID}.dsql.${REGION}.on.aws`;
const OPTION_ROUTE_NAMES = [PRIVATE_NAME, PUBLIC_NAME];
const resolveToLoopback = async (): Promise<string[]> => ['127.0.0.1'];

let ca: TestCa;
beforeAll(() => { ca = makeCa(); });
afterAll(() => rmSync(ca.dir, { recursive: true, force: true }));

/** The certificate as a TLS socket's getPeerCertificate() would show it. */
function peerCertificate(names: string[]) {
  return new X509Certificate(issueServerCert(ca, names).cert).toLegacyObject();
}

describe('the certificate must be valid for one of the cluster\'s names', () => {
  it('an impostor with a trusted certificate for other names fails the dial, and receives nothing after the handshake', async () => {
    const impostor = new FakeEndpoint(issueServerCert(ca, ['*.example.com']), { negotiation: 'direct', alpn: true });
    await impostor.start();
    try {
      const dialer = createDialer({ host: VPCE_NAME, port: impostor.port, servername: VPCE_NAME, certificateNames: OPTION_ROUTE_NAMES,
        sslNegotiation: 'direct', ca: [ca.cert], timeoutMs: 5_000, resolve: resolveToLoopback });
      const failure = await dialer.dial().then(() => undefined, (error: unknown) => error);
      expect(failure).toBeInstanceOf(ConnectionFailure);
      expect(failure).toMatchObject({
        sqlstate: '08001',
        message: `TLS with ${VPCE_NAME}:${impostor.port} failed: the certificate is valid for *.example.com, `
          + `not for ${PRIVATE_NAME} or ${PUBLIC_NAME} (ERR_TLS_CERT_ALTNAME_INVALID)`,
      });
      expect((failure as ConnectionFailure).hint).toMatch(/--certificate-name/);
      expect((failure as ConnectionFailure).hint).toMatch(/dsql-proxy doctor/);
      await impostor.allClosed();
      expect(impostor.connections).toHaveLength(1);
      expect(impostor.connections[0]!.applicationBytes).toBe(0);
    } finally {
      await impostor.stop();
    }
  });

  it('through the proxy on --route option, the client reads which names the certificate has and which were expected; no startup or token is sent', async () => {
    const { emulator, ca: emulatorCa } = await startEmulator({ certNames: ['*.example.com', 'www.example.com'] });
    const proxy = await startTestProxy(emulator.port, emulatorCa, {
      route: 'option', endpoint: `${VPCE_NAME}:${emulator.port}`, region: undefined, serviceIdentifier: undefined,
    }, { resolve: resolveToLoopback });
    try {
      const before = emulator.records.length;
      const error = await connectError(proxy.port);
      expect(error.code).toBe('08001');
      expect(error.message).toBe(`TLS with ${VPCE_NAME}:${emulator.port} failed: the certificate is valid for *.example.com, `
        + `www.example.com, not for ${PRIVATE_NAME} or ${PUBLIC_NAME} (ERR_TLS_CERT_ALTNAME_INVALID)`);
      expect(error.hint).toContain('--certificate-name');
      expect(error.hint).toContain('"dsql-proxy doctor"');
      // The endpoint was reached, and got neither a startup message nor a password.
      const seen = emulator.records.slice(before);
      expect(seen).toHaveLength(1);
      expect(seen[0]).not.toHaveProperty('kind');
      expect(seen[0]).not.toHaveProperty('tokenHostname');
    } finally {
      await proxy.proxy.close();
      expectNoSecrets(proxy.logs.text);
      await emulator.stop();
      rmSync(emulatorCa.dir, { recursive: true, force: true });
    }
  });

  it('a certificate valid only for <id>.dsql.<region>.on.aws passes --route option', async () => {
    const { emulator, ca: emulatorCa } = await startEmulator({ certNames: [PUBLIC_NAME] });
    const proxy = await startTestProxy(emulator.port, emulatorCa, {
      route: 'option', endpoint: `${VPCE_NAME}:${emulator.port}`, region: undefined, serviceIdentifier: undefined,
    }, { resolve: resolveToLoopback });
    try {
      const result = await psql(proxy.port, ['-At', '-c', 'select 1']);
      expect(result.stdout.trim(), result.stderr).toBe('1');
    } finally {
      await proxy.proxy.close();
      await emulator.stop();
      rmSync(emulatorCa.dir, { recursive: true, force: true });
    }
  });

  it('wildcards follow Node\'s rules: one whole leftmost label, never across dots', () => {
    expect(checkCertificateNames(OPTION_ROUTE_NAMES, peerCertificate([`*.dsql.${REGION}.on.aws`]))).toBeUndefined();
    expect(checkCertificateNames(OPTION_ROUTE_NAMES, peerCertificate([`*.${SERVICE_ID}.${REGION}.on.aws`]))).toBeUndefined();
    expect(checkCertificateNames(OPTION_ROUTE_NAMES, peerCertificate([`*.${REGION}.on.aws`]))?.message)
      .toBe(`the certificate is valid for *.${REGION}.on.aws, not for ${PRIVATE_NAME} or ${PUBLIC_NAME}`);
    expect(checkCertificateNames(OPTION_ROUTE_NAMES, peerCertificate([`${CLUSTER_ID}.*.${REGION}.on.aws`]))).toBeInstanceOf(Error);
    expect(checkCertificateNames(OPTION_ROUTE_NAMES, peerCertificate(['*.aws']))).toBeInstanceOf(Error);
    expect(checkCertificateNames(OPTION_ROUTE_NAMES, peerCertificate([`${CLUSTER_ID}.dsql.${REGION}.on.aws.evil.com`]))).toBeInstanceOf(Error);
  });

  it('a certificate with many names is summarised in the message', () => {
    const names = Array.from({ length: 9 }, (_, i) => `host${i}.example.com`);
    const error = checkCertificateNames([PUBLIC_NAME], peerCertificate(names));
    expect(error?.message).toBe(`the certificate is valid for ${names.slice(0, 6).join(', ')} and 3 more, not for ${PUBLIC_NAME}`);
    expect((error as NodeJS.ErrnoException).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });
});
