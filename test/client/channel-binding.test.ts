import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { certificateSignatureOid, tlsServerEndPoint } from '../../src/client/channel-binding.js';
import { PKI_DIR_VARIABLE } from '../support/certs.js';

const dir = mkdtempSync(join(process.env[PKI_DIR_VARIABLE] ?? tmpdir(), 'channel-binding-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let serial = 0;

/** A self-signed certificate (DER) made by openssl with the given key and signature options. */
function certificate(keyArgs: string[], signArgs: string[] = []): Buffer {
  const base = join(dir, `cert-${++serial}`);
  execFileSync('openssl', ['req', '-x509', ...keyArgs, '-nodes', '-keyout', `${base}.key`, '-out', `${base}.pem`, '-days', '1',
    '-subj', '/CN=localhost', ...signArgs], { stdio: 'pipe' });
  return Buffer.from(new X509Certificate(readFileSync(`${base}.pem`)).raw);
}

/** The digest openssl computes over the certificate's DER. */
function opensslDigest(der: Buffer, algorithm: string): Buffer {
  return execFileSync('openssl', ['dgst', `-${algorithm}`, '-binary'], { input: der });
}

const RSA = ['-newkey', 'rsa:2048'];
const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
const P384 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1'];

describe('tls-server-end-point channel binding data (RFC 5929 §4.1)', () => {
  const cases: [string, string[], string[], string, string][] = [
    ['RSA with SHA-256', RSA, ['-sha256'], '1.2.840.113549.1.1.11', 'sha256'],
    ['RSA with SHA-384', RSA, ['-sha384'], '1.2.840.113549.1.1.12', 'sha384'],
    ['RSA with SHA-512', RSA, ['-sha512'], '1.2.840.113549.1.1.13', 'sha512'],
    ['RSA with SHA-1 (hashed with SHA-256)', RSA, ['-sha1'], '1.2.840.113549.1.1.5', 'sha256'],
    ['EC P-256 with SHA-256', P256, ['-sha256'], '1.2.840.10045.4.3.2', 'sha256'],
    ['EC P-384 with SHA-384', P384, ['-sha384'], '1.2.840.10045.4.3.3', 'sha384'],
    ['EC P-256 with SHA3-256', P256, ['-sha3-256'], '2.16.840.1.101.3.4.3.10', 'sha3-256'],
  ];

  for (const [name, keyArgs, signArgs, oid, digest] of cases) {
    it(`hashes a certificate signed ${name} with ${digest}`, () => {
      const der = certificate(keyArgs, signArgs);
      expect(certificateSignatureOid(der)).toBe(oid);
      expect(tlsServerEndPoint(der)).toEqual(opensslDigest(der, digest));
    });
  }

  it('gives no binding data for Ed25519 and RSASSA-PSS certificates (no SCRAM-SHA-256-PLUS then)', () => {
    const ed25519 = certificate(['-newkey', 'ed25519']);
    expect(certificateSignatureOid(ed25519)).toBe('1.3.101.112');
    expect(tlsServerEndPoint(ed25519)).toBeUndefined();
    const pss = certificate(['-newkey', 'rsa-pss', '-pkeyopt', 'rsa_keygen_bits:2048'], ['-sha256']);
    expect(certificateSignatureOid(pss)).toBe('1.2.840.113549.1.1.10');
    expect(tlsServerEndPoint(pss)).toBeUndefined();
  });

  it('gives no binding data for bytes that are not a certificate, whole or cut short', () => {
    const der = certificate(P256, ['-sha256']);
    expect(tlsServerEndPoint(Buffer.alloc(0))).toBeUndefined();
    expect(tlsServerEndPoint(Buffer.from('not a certificate'))).toBeUndefined();
    for (const length of [1, 2, 4, 100, der.length - 1]) expect(tlsServerEndPoint(der.subarray(0, length)), String(length)).toBeUndefined();
  });
});
