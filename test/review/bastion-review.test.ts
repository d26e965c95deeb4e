/**
 * Review of bastion mode (issue 10) from a hostile client's, a careless operator's and a README reader's side.
 * Each test is a finding's reproduction or a check that an attack fails.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueServerCert, makeCa, type TestCa } from '../support/certs.js';
import { clientEnv, runTool, startTestProxy, useRig, type TestProxy } from '../support/harness.js';

const rig = useRig({ proxy: false });
let dir: string;
let localCa: TestCa;
let otherCa: TestCa;
let certFile: string;
let keyFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dsql-proxy-review-'));
  localCa = makeCa('review local CA');
  otherCa = makeCa('review other CA');
  const identity = issueServerCert(localCa, ['localhost']);
  certFile = join(dir, 'server.crt');
  keyFile = join(dir, 'server.key');
  writeFileSync(certFile, identity.cert);
  writeFileSync(keyFile, identity.key, { mode: 0o600 });
});

afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

let serial = 0;
/** Issues a client certificate with CN `cn` from `ca`; `expired` makes one whose validity ended in 2020. */
function clientCert(ca: TestCa, cn: string, expired = false): { cert: string; key: string } {
  const base = join(dir, `client-${++serial}`);
  const ext = `${base}.ext`;
  writeFileSync(ext, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  const run = (args: string[]): void => { execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }); };
  run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${cn}`]);
  if (expired) {
    writeFileSync(join(ca.dir, 'index.txt'), '');
    writeFileSync(join(ca.dir, 'serial'), `${(8192 + serial).toString(16)}\n`);
    writeFileSync(join(ca.dir, 'client.cnf'), ['[ca]', 'default_ca = t', '[t]', `dir = ${ca.dir}`, `database = ${ca.dir}/index.txt`,
      `new_certs_dir = ${ca.dir}`, `serial = ${ca.dir}/serial`, 'default_md = sha256', 'policy = p', 'unique_subject = no', '[p]', 'commonName = supplied'].join('\n'));
    run(['ca', '-batch', '-config', join(ca.dir, 'client.cnf'), '-cert', ca.certFile, '-keyfile', ca.keyFile, '-in', `${base}.csr`, '-out', `${base}.crt`,
      '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-extfile', ext, '-notext']);
  } else {
    run(['x509', '-req', '-in', `${base}.csr`, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', String(5000 + serial), '-out', `${base}.crt`, '-extfile', ext, '-days', '2']);
  }
  chmodSync(`${base}.key`, 0o600);
  return { cert: `${base}.crt`, key: `${base}.key` };
}

async function nextClose(proxy: TestProxy, before: number): Promise<Record<string, unknown> | undefined> {
  for (let i = 0; i < 150 && proxy.logs.withMessage('connection closed').length <= before; i++) await new Promise((r) => setTimeout(r, 20));
  return proxy.logs.withMessage('connection closed')[before];
}
const closeCount = (proxy: TestProxy): number => proxy.logs.withMessage('connection closed').length;

async function withProxy(raw: Parameters<typeof startTestProxy>[2], body: (proxy: TestProxy) => Promise<void>): Promise<void> {
  const proxy = await startTestProxy(rig.emulator.port, rig.ca, raw);
  try {
    await body(proxy);
  } finally {
    await proxy.proxy.close();
  }
  expect(proxy.proxy.server.openConnections).toBe(0);
}

function psqlTls(port: number, user: string, extra = '', env: Record<string, string> = {}): ReturnType<typeof runTool> {
  return runTool('psql', ['-X', '-w', '-At', '-c', 'select current_user', '-d',
    `host=localhost port=${port} user=${user} dbname=postgres sslmode=verify-full sslrootcert=${localCa.certFile} ${extra}`], { env: clientEnv(env) });
}

describe('client certificates (--tls-client-ca): no test in the change covered them', () => {
  it('a certificate from the client CA whose CN is the role gets a session; the audit line says cert', async () => {
    const admin = clientCert(localCa, 'admin');
    await withProxy({ tlsCert: certFile, tlsKey: keyFile, tlsClientCa: localCa.certFile }, async (proxy) => {
      const before = closeCount(proxy);
      const result = await psqlTls(proxy.port, 'admin', `sslcert=${admin.cert} sslkey=${admin.key}`);
      expect(result.stdout.trim(), result.stderr).toBe('admin');
      expect(await nextClose(proxy, before)).toMatchObject({ auth: 'cert', tls: true, outcome: 'relayed' });
    });
  });

  it.each([
    ['no certificate', undefined, 'admin', /connection requires a valid client certificate/],
    ['a certificate for another role', 'app_reader', 'admin', /certificate authentication failed for user "admin"/],
    ['a CN that differs only in case', 'Admin', 'admin', /certificate authentication failed for user "admin"/],
    ['a certificate from another CA', 'other-ca', 'admin', /client certificate is not valid/],
    ['an expired certificate', 'expired', 'admin', /client certificate is not valid: CERT_HAS_EXPIRED/],
  ])('%s is refused with FATAL 28000 and a hint, before dialing', async (_case, kind, user, message) => {
    const cert = kind === undefined ? undefined : kind === 'other-ca' ? clientCert(otherCa, 'admin')
      : kind === 'expired' ? clientCert(localCa, 'admin', true) : clientCert(localCa, kind);
    await withProxy({ tlsCert: certFile, tlsKey: keyFile, tlsClientCa: localCa.certFile }, async (proxy) => {
      const before = rig.emulator.records.length;
      const closes = closeCount(proxy);
      const result = await psqlTls(proxy.port, user, cert ? `sslcert=${cert.cert} sslkey=${cert.key}` : '');
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toContain('HINT:');
      expect(rig.emulator.records.length).toBe(before);
      expect(await nextClose(proxy, closes)).toMatchObject({ outcome: 'refused', tls: true });
    });
  });
});
