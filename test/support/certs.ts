import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** A certificate and key as PEM and as files on disk (the key file mode 0600: libpq and PostgreSQL refuse others). */
export interface IdentityFiles extends ServerIdentity {
  readonly certFile: string;
  readonly keyFile: string;
}

/** A client certificate: PEM files for libpq and Node, and the key as unencrypted PKCS#8 DER for pgJDBC. */
export interface ClientIdentity extends IdentityFiles {
  readonly commonName: string;
  /** The key as PKCS#8 DER, what pgJDBC's sslkey reads by default (its LazyKeyManager), mode 0600. */
  readonly pk8File: string;
}

/** Key algorithm of an issued certificate: EC P-256 (the default) or RSA 2048 (channel binding hashes it with SHA-256). */
export type KeyType = 'ec' | 'rsa';

/** Choices for the certificates issued for local listeners and clients. */
export interface IssueOptions {
  readonly keyType?: KeyType;
  /** Validity ended in 2020, as `openssl ca` can date it. */
  readonly expired?: boolean;
}

/** Names the run-wide directory the global setup creates (and removes) for every test process's key material. */
export const PKI_DIR_VARIABLE = 'DSQL_PROXY_TEST_PKI_DIR';

/** The names a local listener's certificate covers: what clients of a proxy on loopback connect to. */
export const LOCAL_NAMES: readonly string[] = ['localhost', '127.0.0.1', '::1'];

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

const newKey = (keyType: KeyType): string[] => keyType === 'rsa'
  ? ['-newkey', 'rsa:2048']
  : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];

/** subjectAltName entries: IP literals as IP names (libpq and pgJDBC match host=127.0.0.1 only against those), the rest DNS. */
const altNames = (names: readonly string[]): string =>
  names.map((n) => (/^[\d.]+$/.test(n) || n.includes(':') ? `IP:${n}` : `DNS:${n}`)).join(',');

/** Creates a fresh CA (EC P-256) in a directory of its own, removed with the process's key material. */
export function makeCa(name = 'dsql-proxy test CA'): TestCa {
  const dir = mkdtempSync(join(pkiDir(), 'ca-'));
  openssl(['req', '-x509', ...newKey('ec'), '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return { dir, cert: readFileSync(join(dir, 'ca.crt'), 'utf8'), certFile: join(dir, 'ca.crt'), keyFile: join(dir, 'ca.key') };
}

let serial = 0;

/** Sets `ca` up for `openssl ca` (the only way OpenSSL 3.0 sets explicit validity dates), once. */
function caConfig(ca: TestCa): string {
  const config = join(ca.dir, 'ca.cnf');
  if (existsSync(config)) return config;
  writeFileSync(join(ca.dir, 'index.txt'), '');
  writeFileSync(join(ca.dir, 'serial'), '1000\n');
  writeFileSync(config, [
    '[ca]', 'default_ca = test', '[test]', `dir = ${ca.dir}`, `database = ${ca.dir}/index.txt`, `new_certs_dir = ${ca.dir}`,
    `serial = ${ca.dir}/serial`, 'default_md = sha256', 'policy = anything', 'unique_subject = no',
    '[anything]', 'commonName = supplied',
  ].join('\n'));
  return config;
}

interface Request extends IssueOptions {
  readonly commonName: string;
  readonly names: readonly string[];
  readonly purpose: 'serverAuth' | 'clientAuth';
}

/** Makes a key, has `ca` sign a certificate for it, and leaves both in the CA's directory (key mode 0600). */
function issue(ca: TestCa, request: Request): IdentityFiles {
  const base = `${request.purpose === 'serverAuth' ? 'server' : 'client'}-${++serial}`;
  writeFileSync(join(ca.dir, `${base}.ext`), [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${request.purpose}`,
    ...(request.names.length ? [`subjectAltName=${altNames(request.names)}`] : []),
  ].join('\n'));
  openssl(['req', '-new', ...newKey(request.keyType ?? 'ec'), '-nodes',
    '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${request.commonName}`], ca.dir);
  if (request.expired) {
    openssl(['ca', '-batch', '-config', caConfig(ca), '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', `${base}.csr`,
      '-out', `${base}.crt`, '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-extfile', `${base}.ext`, '-notext'], ca.dir);
  } else {
    openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(1000 + serial),
      '-out', `${base}.crt`, '-extfile', `${base}.ext`, '-days', '2'], ca.dir);
  }
  const certFile = join(ca.dir, `${base}.crt`);
  const keyFile = join(ca.dir, `${base}.key`);
  chmodSync(keyFile, 0o600);
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

/** Issues a server certificate for `dnsNames` signed by `ca`. */
export function issueServerCert(ca: TestCa, dnsNames: readonly string[], options: IssueOptions = {}): IdentityFiles {
  return issue(ca, { ...options, commonName: dnsNames[0] ?? 'server', names: dnsNames, purpose: 'serverAuth' });
}

/**
 * A certificate for a listener on loopback: `localhost`, `127.0.0.1` and `::1`, so clients verify it with
 * sslmode=verify-full whichever of the three they connect to. EC unless `keyType: 'rsa'`.
 */
export function issueLocalServerCert(ca: TestCa, options: IssueOptions = {}): IdentityFiles {
  return issueServerCert(ca, LOCAL_NAMES, options);
}

/**
 * A client certificate whose CN is `commonName` (PostgreSQL's `cert` auth takes the CN as the role), with the key
 * also as PKCS#8 DER for pgJDBC. A certificate from another CA: `issueClientCert(makeCa('other CA'), role)`.
 */
export function issueClientCert(ca: TestCa, commonName: string, options: IssueOptions = {}): ClientIdentity {
  const identity = issue(ca, { ...options, commonName, names: [], purpose: 'clientAuth' });
  const pk8File = identity.keyFile.replace(/\.key$/, '.pk8');
  openssl(['pkcs8', '-topk8', '-nocrypt', '-in', identity.keyFile, '-outform', 'DER', '-out', pk8File], ca.dir);
  chmodSync(pk8File, 0o600);
  return { ...identity, commonName, pk8File };
}

/** A self-signed server certificate for `dnsNames` (trusted by nobody). */
export function selfSignedServerCert(dnsNames: readonly string[]): IdentityFiles {
  const dir = mkdtempSync(join(pkiDir(), 'self-'));
  openssl(['req', '-x509', ...newKey('ec'), '-nodes', '-keyout', 'self.key',
    '-out', 'self.crt', '-days', '2', '-subj', `/CN=${dnsNames[0]}`, '-addext', `subjectAltName=${altNames(dnsNames)}`], dir);
  chmodSync(join(dir, 'self.key'), 0o600);
  return { cert: readFileSync(join(dir, 'self.crt'), 'utf8'), key: readFileSync(join(dir, 'self.key'), 'utf8'),
    certFile: join(dir, 'self.crt'), keyFile: join(dir, 'self.key') };
}

/** A certificate for `dnsNames` from `ca` whose validity ended in 2020. */
export function issueExpiredServerCert(ca: TestCa, dnsNames: readonly string[]): IdentityFiles {
  return issueServerCert(ca, dnsNames, { expired: true });
}
