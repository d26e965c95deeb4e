/**
 * tls-server-end-point channel binding data (RFC 5929 §4.1): the hash of our own server certificate, computed
 * with the hash function of the certificate's signature algorithm, SHA-256 when that is MD5 or SHA-1. libpq
 * (pgtls_get_peer_certificate_hash) and PostgreSQL (be_tls_get_certificate_hash) compute the same from OpenSSL's
 * signature NID, so the table below maps the same algorithms. Pure.
 */
import { createHash } from 'node:crypto';

// signatureAlgorithm OIDs (RFC 3279, RFC 4055, RFC 5758, NIST CSOR sigAlgs) → the hash RFC 5929 says to use.
// Ed25519/Ed448 have no separate hash and RSASSA-PSS keeps it in parameters that OpenSSL's signature NID lookup
// does not resolve: PostgreSQL offers SCRAM-SHA-256-PLUS for them and then fails the exchange; we leave them out
// (undefined below), so such a certificate simply gets no SCRAM-SHA-256-PLUS.
const HASH_BY_SIGNATURE_OID: ReadonlyMap<string, string> = new Map([
  ['1.2.840.113549.1.1.4', 'sha256'], // md5WithRSAEncryption → SHA-256
  ['1.2.840.113549.1.1.5', 'sha256'], // sha1WithRSAEncryption → SHA-256
  ['1.2.840.113549.1.1.14', 'sha224'], // sha224WithRSAEncryption
  ['1.2.840.113549.1.1.11', 'sha256'], // sha256WithRSAEncryption
  ['1.2.840.113549.1.1.12', 'sha384'], // sha384WithRSAEncryption
  ['1.2.840.113549.1.1.13', 'sha512'], // sha512WithRSAEncryption
  ['1.2.840.10045.4.1', 'sha256'], // ecdsa-with-SHA1 → SHA-256
  ['1.2.840.10045.4.3.1', 'sha224'], // ecdsa-with-SHA224
  ['1.2.840.10045.4.3.2', 'sha256'], // ecdsa-with-SHA256
  ['1.2.840.10045.4.3.3', 'sha384'], // ecdsa-with-SHA384
  ['1.2.840.10045.4.3.4', 'sha512'], // ecdsa-with-SHA512
  ['1.2.840.10040.4.3', 'sha256'], // dsa-with-sha1 → SHA-256
  ['2.16.840.1.101.3.4.3.1', 'sha224'], // dsa-with-sha224
  ['2.16.840.1.101.3.4.3.2', 'sha256'], // dsa-with-sha256
  ['2.16.840.1.101.3.4.3.9', 'sha3-224'], // ecdsa-with-sha3-224
  ['2.16.840.1.101.3.4.3.10', 'sha3-256'], // ecdsa-with-sha3-256
  ['2.16.840.1.101.3.4.3.11', 'sha3-384'], // ecdsa-with-sha3-384
  ['2.16.840.1.101.3.4.3.12', 'sha3-512'], // ecdsa-with-sha3-512
  ['2.16.840.1.101.3.4.3.13', 'sha3-224'], // rsassa-pkcs1-v1_5-with-sha3-224
  ['2.16.840.1.101.3.4.3.14', 'sha3-256'], // rsassa-pkcs1-v1_5-with-sha3-256
  ['2.16.840.1.101.3.4.3.15', 'sha3-384'], // rsassa-pkcs1-v1_5-with-sha3-384
  ['2.16.840.1.101.3.4.3.16', 'sha3-512'], // rsassa-pkcs1-v1_5-with-sha3-512
]);

const SEQUENCE = 0x30;
const OBJECT_IDENTIFIER = 0x06;

interface Element {
  readonly tag: number;
  readonly start: number; // first content byte
  readonly end: number; // one past the last content byte
}

/** Reads one DER element at `offset` (definite lengths only, as DER requires); undefined if it does not fit. */
function readElement(der: Buffer, offset: number, limit: number): Element | undefined {
  if (offset + 2 > limit) return undefined;
  const tag = der[offset]!;
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || start + count > limit) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[start + i]!;
    start += count;
  }
  return start + length > limit ? undefined : { tag, start, end: start + length };
}

/** Dotted text of a DER OBJECT IDENTIFIER's content bytes. */
function oidText(content: Buffer): string | undefined {
  if (content.length === 0) return undefined;
  const arcs: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) return undefined;
    if (!(byte & 0x80)) { arcs.push(value); value = 0; }
  }
  if (content[content.length - 1]! & 0x80) return undefined;
  const first = arcs.shift()!;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs].join('.');
}

/** The signatureAlgorithm OID of an X.509 certificate (RFC 5280 §4.1: Certificate ::= SEQUENCE { tbs, alg, sig }). */
export function certificateSignatureOid(certificateDer: Buffer): string | undefined {
  const certificate = readElement(certificateDer, 0, certificateDer.length);
  if (certificate?.tag !== SEQUENCE) return undefined;
  const tbs = readElement(certificateDer, certificate.start, certificate.end);
  if (tbs?.tag !== SEQUENCE) return undefined;
  const algorithm = readElement(certificateDer, tbs.end, certificate.end);
  if (algorithm?.tag !== SEQUENCE) return undefined;
  const oid = readElement(certificateDer, algorithm.start, algorithm.end);
  if (oid?.tag !== OBJECT_IDENTIFIER) return undefined;
  return oidText(certificateDer.subarray(oid.start, oid.end));
}

/** tls-server-end-point data for our certificate, or undefined when its hash cannot be determined (no PLUS then). */
export function tlsServerEndPoint(certificateDer: Buffer): Buffer | undefined {
  const oid = certificateSignatureOid(certificateDer);
  const hash = oid === undefined ? undefined : HASH_BY_SIGNATURE_OID.get(oid);
  return hash === undefined ? undefined : createHash(hash).update(certificateDer).digest();
}
