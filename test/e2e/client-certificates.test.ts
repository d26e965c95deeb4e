import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeScramVerifier } from '../../src/client/scram.js';
import { issueClientCert, issueLocalServerCert, makeCa, type ClientIdentity, type IdentityFiles, type TestCa } from '../support/certs.js';
import { clientEnv, runTool, startTestProxy, useRig, type TestProxy } from '../support/harness.js';
import { jdbcQuery, jdbcUrl, SKIP_JDBC } from '../support/jdbc.js';

const rig = useRig({ proxy: false });
let ca: TestCa;
let listener: IdentityFiles;
let adminCert: ClientIdentity;
let readerCert: ClientIdentity;
let certified: TestProxy;

beforeAll(async () => {
  ca = makeCa('dsql-proxy client CA');
  listener = issueLocalServerCert(ca);
  adminCert = issueClientCert(ca, 'admin');
  readerCert = issueClientCert(ca, 'app_reader');
  certified = await startTestProxy(rig.emulator.port, rig.ca, {
    tlsCert: listener.certFile, tlsKey: listener.keyFile, tlsClientCa: ca.certFile, listen: '127.0.0.1:0',
  });
});

afterAll(async () => { await certified?.proxy.close(); });

/** psql as `user` over verify-full, with the given client certificate (or none). */
function psqlWith(port: number, user: string, cert: ClientIdentity | undefined, sslmode = 'verify-full'): ReturnType<typeof runTool> {
  const certPart = cert ? ` sslcert=${cert.certFile} sslkey=${cert.keyFile}` : ' sslcert=/nonexistent sslkey=/nonexistent';
  return runTool('psql', ['-X', '-w', '-At', '-c', 'select current_user', '-d',
    `host=localhost port=${port} user=${user} dbname=postgres sslmode=${sslmode} sslrootcert=${ca.certFile}${certPart}`]);
}

describe('client certificates (--tls-client-ca)', () => {
  it('a certificate whose CN is the role logs in, and the audit line says cert', async () => {
    const before = certified.logs.closeCount;
    const result = await psqlWith(certified.port, 'admin', adminCert);
    expect(result.stdout.trim(), result.stderr).toBe('admin');
    expect(await certified.logs.closeLineWith(before, { auth: 'cert', tls: true, user: 'admin', outcome: 'relayed' })).toMatchObject({ auth: 'cert', tls: true, user: 'admin', outcome: 'relayed' });
  });

  it.each([
    ['a certificate issued to another role', 'admin', () => readerCert, 'certificate authentication failed for user "admin": the certificate\'s CN is "app_reader"'],
    ['no certificate', 'admin', () => undefined, 'connection requires a valid client certificate'],
    ['a certificate from another CA', 'admin', () => issueClientCert(makeCa('another CA'), 'admin'), 'the client certificate is not valid: UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['an expired certificate', 'admin', () => issueClientCert(ca, 'admin', { expired: true }), 'the client certificate is not valid: CERT_HAS_EXPIRED'],
    ['the right CN in another case', 'ADMIN', () => adminCert, 'certificate authentication failed for user "ADMIN"'],
  ])('%s is refused with FATAL 28000 before dialing', async (_case, user, cert, message) => {
    const before = rig.emulator.records.length;
    const closes = certified.logs.closeCount;
    const result = await psqlWith(certified.port, user, cert());
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`FATAL:  ${message}`);
    expect(rig.emulator.records.length).toBe(before);
    expect(await certified.logs.closeLineWith(closes, { outcome: 'refused', tls: true })).toMatchObject({ outcome: 'refused', tls: true });
  });

  it('a plaintext client is refused: a certificate can only come over TLS', async () => {
    const result = await psqlWith(certified.port, 'admin', adminCert, 'disable');
    expect(result.stderr).toContain('FATAL:  connection requires a valid client certificate, over TLS');
  });

  it('with an auth file as well, the client needs both the certificate and the password', async () => {
    const file = join(ca.dir, 'userlist.txt');
    writeFileSync(file, `"admin" "${makeScramVerifier('both-factors')}"\n`);
    const both = await startTestProxy(rig.emulator.port, rig.ca, {
      tlsCert: listener.certFile, tlsKey: listener.keyFile, tlsClientCa: ca.certFile, authFile: file,
    });
    try {
      const conninfo = `host=localhost port=${both.port} user=admin dbname=postgres sslmode=verify-full sslrootcert=${ca.certFile} sslcert=${adminCert.certFile} sslkey=${adminCert.keyFile}`;
      const withPassword = await runTool('psql', ['-X', '-w', '-At', '-c', 'select 1', '-d', conninfo], { env: clientEnv({ PGPASSWORD: 'both-factors' }) });
      expect(withPassword.stdout.trim(), withPassword.stderr).toBe('1');
      expect(await both.logs.closeLineWith(0, { auth: 'cert+scram-plus', outcome: 'relayed' })).toMatchObject({ auth: 'cert+scram-plus', outcome: 'relayed' });
      const wrongPassword = await runTool('psql', ['-X', '-w', '-At', '-c', 'select 1', '-d', conninfo], { env: clientEnv({ PGPASSWORD: 'nope' }) });
      expect(wrongPassword.stderr).toContain('password authentication failed for user "admin"');
    } finally {
      await both.proxy.close();
    }
  });
});

describe.skipIf(SKIP_JDBC)('pgJDBC through local TLS', () => {
  it('ssl=true sslmode=verify-full with a password, and with a client certificate (PKCS#8 key)', async () => {
    const file = join(ca.dir, 'jdbc-userlist.txt');
    writeFileSync(file, `"app_reader" "${makeScramVerifier('jdbc-secret')}"\n`);
    const bastion = await startTestProxy(rig.emulator.port, rig.ca, { tlsCert: listener.certFile, tlsKey: listener.keyFile, authFile: file, requireTls: true });
    try {
      const base = { ssl: 'true', sslmode: 'verify-full', sslrootcert: ca.certFile };
      const withPassword = await jdbcQuery({ url: jdbcUrl('localhost', bastion.port), properties: { ...base, user: 'app_reader', password: 'jdbc-secret' }, sql: 'select current_user' });
      expect(withPassword.stdout.trim(), withPassword.stderr).toBe('app_reader');
      expect(bastion.logs.withMessage('connection closed').at(-1)).toMatchObject({ auth: 'scram', tls: true });
      const wrong = await jdbcQuery({ url: jdbcUrl('localhost', bastion.port), properties: { ...base, user: 'app_reader', password: 'nope' }, sql: 'select 1' });
      expect(wrong.stderr).toContain('SQLSTATE 28P01');
      const withCertificate = await jdbcQuery({
        url: jdbcUrl('127.0.0.1', certified.port),
        properties: { ...base, user: 'app_reader', sslcert: readerCert.certFile, sslkey: readerCert.pk8File },
        sql: 'select current_user',
      });
      expect(withCertificate.stdout.trim(), withCertificate.stderr).toBe('app_reader');
    } finally {
      await bastion.proxy.close();
    }
  });
});
