import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  issueClientCert, issueLocalServerCert, issueServerCert, LOCAL_NAMES, makeCa, type ClientIdentity, type TestCa,
} from '../support/certs.js';
import { psql } from '../support/harness.js';
import { jdbcQuery, jdbcUrl, SKIP_JDBC } from '../support/jdbc.js';
import { startPostgres, stopPostgres, type TestPostgres } from '../support/postgres.js';

// The patterns the local-TLS tests of the proxy follow, proved here against a real TLS-enabled PostgreSQL:
// `local` has a certificate for localhost, 127.0.0.1 and ::1 and wants a client certificate from app_reader;
// `elsewhere` has an RSA certificate for another name from the same CA.
const CLIENT_ROLE = 'app_reader';
const AM_I_ON_TLS = 'select ssl from pg_stat_ssl where pid = pg_backend_pid()';
const WHO_AM_I = "select current_user || ' ' || client_dn from pg_stat_ssl where pid = pg_backend_pid()";

let ca: TestCa;
let otherCa: TestCa;
let local: TestPostgres;
let elsewhere: TestPostgres;
let client: ClientIdentity;

beforeAll(async () => {
  ca = makeCa();
  otherCa = makeCa('another CA');
  client = issueClientCert(ca, CLIENT_ROLE);
  const localCert = issueLocalServerCert(ca);
  local = await startPostgres({
    tls: { certFile: localCert.certFile, keyFile: localCert.keyFile, clientCaFile: ca.certFile },
    hbaFirst: [`hostssl all ${CLIENT_ROLE} 127.0.0.1/32 cert`, `hostssl all ${CLIENT_ROLE} ::1/128 cert`],
    listenAddresses: '127.0.0.1,::1',
  });
  const otherName = issueServerCert(ca, ['db.example.test'], { keyType: 'rsa' });
  elsewhere = await startPostgres({ tls: { certFile: otherName.certFile, keyFile: otherName.keyFile } });
});

afterAll(() => {
  if (local) stopPostgres(local);
  if (elsewhere) stopPostgres(elsewhere);
});

/** pgJDBC's settings for verify-full against `ca`, as a proxy's users would set them. */
const verifyFull = (root: TestCa, user = 'admin'): Record<string, string> =>
  ({ user, ssl: 'true', sslmode: 'verify-full', sslrootcert: root.certFile });

/** libpq's connection string for verify-full against `ca`. */
const libpqVerifyFull = (host: string, port: number, root: TestCa, user = 'admin'): string =>
  `host=${host} port=${port} user=${user} dbname=postgres sslmode=verify-full sslrootcert=${root.certFile}`;

describe('the local listener certificate', () => {
  it('names localhost as DNS and 127.0.0.1 and ::1 as IP addresses; EC by default, RSA on request', () => {
    for (const keyType of ['ec', 'rsa'] as const) {
      const cert = new X509Certificate(issueLocalServerCert(ca, { keyType }).cert);
      expect(cert.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
      expect(cert.checkIssued(new X509Certificate(ca.cert))).toBe(true);
      expect(cert.publicKey.asymmetricKeyType).toBe(keyType);
    }
    expect(LOCAL_NAMES).toEqual(['localhost', '127.0.0.1', '::1']);
  });
});

describe('pgJDBC against a TLS-enabled PostgreSQL', () => {
  // Not [::1]: pgJDBC 42.5 compares the bracketed literal with the certificate's IP address and fails the check.
  it.skipIf(SKIP_JDBC).each(['localhost', '127.0.0.1'])('with sslmode=verify-full and the CA as sslrootcert, connects over TLS to %s', async (host) => {
    const result = await jdbcQuery({ url: jdbcUrl(host, local.port), properties: verifyFull(ca), sql: AM_I_ON_TLS });
    expect(result).toEqual({ code: 0, stdout: 't', stderr: '' });
  });

  it.skipIf(SKIP_JDBC)('refuses a server whose certificate is for another name, with SQLSTATE 08006', async () => {
    const result = await jdbcQuery({ url: jdbcUrl('localhost', elsewhere.port), properties: verifyFull(ca), sql: AM_I_ON_TLS });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^SQLSTATE 08006: The hostname localhost could not be verified/);
  });

  it.skipIf(SKIP_JDBC)('refuses a server whose certificate another CA signed, with SQLSTATE 08006', async () => {
    const result = await jdbcQuery({ url: jdbcUrl('localhost', local.port), properties: verifyFull(otherCa), sql: AM_I_ON_TLS });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^SQLSTATE 08006: SSL error: PKIX path building failed/);
  });

  it.skipIf(SKIP_JDBC)('logs in as the client certificate\'s CN under cert auth, with the key as PKCS#8 DER', async () => {
    const result = await jdbcQuery({
      url: jdbcUrl('localhost', local.port), sql: WHO_AM_I,
      properties: { ...verifyFull(ca, CLIENT_ROLE), sslcert: client.certFile, sslkey: client.pk8File },
    });
    expect(result).toEqual({ code: 0, stdout: `${CLIENT_ROLE} /CN=${CLIENT_ROLE}`, stderr: '' });
  });

  it.skipIf(SKIP_JDBC)('without a client certificate, cert auth refuses the role with SQLSTATE 28000', async () => {
    const result = await jdbcQuery({ url: jdbcUrl('localhost', local.port), properties: verifyFull(ca, CLIENT_ROLE), sql: WHO_AM_I });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('SQLSTATE 28000: FATAL: connection requires a valid client certificate');
  });

  it.skipIf(SKIP_JDBC)('an expired client certificate is refused in the TLS handshake, with SQLSTATE 08006 or 08001', async () => {
    const expired = issueClientCert(ca, CLIENT_ROLE, { expired: true });
    const result = await jdbcQuery({
      url: jdbcUrl('localhost', local.port), sql: WHO_AM_I,
      properties: { ...verifyFull(ca, CLIENT_ROLE), sslcert: expired.certFile, sslkey: expired.pk8File },
    });
    expect(result.code).toBe(1);
    // The server's alert races Java's next read or write: 08006 "SSL error: Received fatal alert: certificate_expired"
    // or "SSL error: Broken pipe", or 08001 "The connection attempt failed" (connection reset); never a login.
    expect(result.stderr).toMatch(/^SQLSTATE (08006: SSL error|08001: The connection attempt failed)/);
  });

  it.skipIf(SKIP_JDBC)('withholds a client certificate from another CA than the server names, so cert auth refuses with 28000', async () => {
    // Java sends a certificate only if its issuer is among the CAs the server's CertificateRequest lists.
    const foreign = issueClientCert(otherCa, CLIENT_ROLE);
    const result = await jdbcQuery({
      url: jdbcUrl('localhost', local.port), sql: WHO_AM_I,
      properties: { ...verifyFull(ca, CLIENT_ROLE), sslcert: foreign.certFile, sslkey: foreign.pk8File },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('SQLSTATE 28000: FATAL: connection requires a valid client certificate');
  });
});

describe('psql against a TLS-enabled PostgreSQL', () => {
  it.each(['localhost', '127.0.0.1', '::1'])('with sslmode=verify-full and the CA as sslrootcert, connects over TLS to %s', async (host) => {
    const result = await psql(local.port, ['-Atc', AM_I_ON_TLS], { conninfo: libpqVerifyFull(host, local.port, ca) });
    expect(result).toEqual({ status: 0, stdout: 't\n', stderr: '' });
  });

  it('refuses a server whose certificate is for another name', async () => {
    const result = await psql(elsewhere.port, ['-Atc', AM_I_ON_TLS], { conninfo: libpqVerifyFull('localhost', elsewhere.port, ca) });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/server certificate for "db\.example\.test" does not match host name "localhost"/);
  });

  it('logs in as the client certificate\'s CN under cert auth, with sslcert and sslkey as PEM files', async () => {
    const result = await psql(local.port, ['-Atc', WHO_AM_I],
      { conninfo: `${libpqVerifyFull('localhost', local.port, ca, CLIENT_ROLE)} sslcert=${client.certFile} sslkey=${client.keyFile}` });
    expect(result).toEqual({ status: 0, stdout: `${CLIENT_ROLE} /CN=${CLIENT_ROLE}\n`, stderr: '' });
  });

  it.each([
    ['an expired client certificate', () => issueClientCert(ca, CLIENT_ROLE, { expired: true }), /certificate expired/],
    ['a client certificate from another CA', () => issueClientCert(otherCa, CLIENT_ROLE), /unknown ca/],
  ])('%s is refused in the TLS handshake', async (_, issue, alert) => {
    const refused = issue();
    const result = await psql(local.port, ['-Atc', WHO_AM_I],
      { conninfo: `${libpqVerifyFull('localhost', local.port, ca, CLIENT_ROLE)} sslcert=${refused.certFile} sslkey=${refused.keyFile}` });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(alert);
  });
});
