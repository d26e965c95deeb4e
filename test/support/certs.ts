import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A CA made for one test run. */
export interface TestCa {
  readonly dir: string;
  /** PEM of the CA certificate. */
  readonly cert: string;
  /** Path of the CA certificate (for --ca-file and sslrootcert). */
  readonly certFile: string;
  readonly keyFile: string;
}

/** A server certificate and key (PEM). */
export interface ServerIdentity {
  readonly cert: string;
  readonly key: string;
}

/** Names the run-wide directory the global setup creates (and removes) for every test process's key material. */
export const PKI_DIR_VARIABLE = 'DSQL_PROXY_TEST_PKI_DIR';

let processDir: string | undefined;

/**
 * This process's directory for key material, made on first use and removed when the process exits. Under the
 * test run it lives inside the global setup's directory, which the teardown removes even if a worker is killed.
 */
function pkiDir(): string {
  if (processDir) return processDir;
  const shared = process.env[PKI_DIR_VARIABLE];
  const dir = mkdtempSync(shared ? join(shared, 'process-') : join(tmpdir(), 'dsql-proxy-pki-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  processDir = dir;
  return dir;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Creates a fresh CA (EC P-256) in a directory of its own, removed with the process's key material. */
export function makeCa(name = 'dsql-proxy test CA'): TestCa {
  const dir = mkdtempSync(join(pkiDir(), 'ca-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return { dir, cert: readFileSync(join(dir, 'ca.crt'), 'utf8'), certFile: join(dir, 'ca.crt'), keyFile: join(dir, 'ca.key') };
}

let serial = 0;

/** Issues a server certificate for `dnsNames` signed by `ca`. */
export function issueServerCert(ca: TestCa, dnsNames: readonly string[]): ServerIdentity {
  const base = `server-${++serial}`;
  const ext = join(ca.dir, `${base}.ext`);
  writeFileSync(ext, [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=${dnsNames.map((n) => `DNS:${n}`).join(',')}`,
  ].join('\n'));
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${dnsNames[0]}`], ca.dir);
  openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(1000 + serial),
    '-out', `${base}.crt`, '-extfile', `${base}.ext`, '-days', '2'], ca.dir);
  return { cert: readFileSync(join(ca.dir, `${base}.crt`), 'utf8'), key: readFileSync(join(ca.dir, `${base}.key`), 'utf8') };
}

/** A self-signed server certificate for `dnsNames` (trusted by nobody). */
export function selfSignedServerCert(dnsNames: readonly string[]): ServerIdentity {
  const dir = mkdtempSync(join(pkiDir(), 'self-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'self.key',
    '-out', 'self.crt', '-days', '2', '-subj', `/CN=${dnsNames[0]}`, '-addext', `subjectAltName=${dnsNames.map((n) => `DNS:${n}`).join(',')}`], dir);
  return { cert: readFileSync(join(dir, 'self.crt'), 'utf8'), key: readFileSync(join(dir, 'self.key'), 'utf8') };
}

/** A certificate for `dnsNames` from `ca` whose validity ended in 2020 (`openssl ca` sets explicit dates). */
export function issueExpiredServerCert(ca: TestCa, dnsNames: readonly string[]): ServerIdentity {
  const base = `expired-${++serial}`;
  writeFileSync(join(ca.dir, 'index.txt'), '');
  writeFileSync(join(ca.dir, 'serial'), `${(4096 + serial).toString(16).padStart(4, '0')}\n`);
  writeFileSync(join(ca.dir, 'ca.cnf'), [
    '[ca]', 'default_ca = test', '[test]', `dir = ${ca.dir}`, `database = ${ca.dir}/index.txt`, `new_certs_dir = ${ca.dir}`,
    `serial = ${ca.dir}/serial`, 'default_md = sha256', 'policy = anything', 'unique_subject = no',
    '[anything]', 'commonName = supplied',
  ].join('\n'));
  writeFileSync(join(ca.dir, `${base}.ext`), `subjectAltName=${dnsNames.map((n) => `DNS:${n}`).join(',')}\n`);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${dnsNames[0]}`], ca.dir);
  openssl(['ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', `${base}.csr`, '-out', `${base}.crt`,
    '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-extfile', `${base}.ext`, '-notext'], ca.dir);
  return { cert: readFileSync(join(ca.dir, `${base}.crt`), 'utf8'), key: readFileSync(join(ca.dir, `${base}.key`), 'utf8') };
}
