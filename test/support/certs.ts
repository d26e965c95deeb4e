import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Creates a fresh CA (EC P-256) in a temp directory. */
export function makeCa(name = 'dsql-proxy test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'dsql-proxy-pki-'));
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
