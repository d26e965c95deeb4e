import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeScramVerifier } from '../src/client/scram.js';
import type { ServerIdentity } from '../test/support/certs.js';
import { proxyPath, type BenchCluster, type BenchPath } from './paths.js';

const PASSWORD = 'bench-password';

/**
 * The proxy as a bastion, for the connection set-up figures: clients log in with SCRAM-SHA-256 over plaintext, and
 * with SCRAM-SHA-256-PLUS over local TLS (sslmode=require, channel binding), so the cost of each shows beside the
 * loopback default.
 */
export async function bastionPaths(cluster: BenchCluster, dir: string, identity: ServerIdentity): Promise<BenchPath[]> {
  const authFile = join(dir, 'bench-userlist.txt');
  writeFileSync(authFile, `"admin" "${makeScramVerifier(PASSWORD)}"\n`);
  // One iteration leaves out the client's PBKDF2 (4096 HMACs in libpq, which any SCRAM server makes it do): what is
  // left is the proxy's share, the exchange's two extra round trips and its own hashing.
  const cheapFile = join(dir, 'bench-userlist-i1.txt');
  writeFileSync(cheapFile, `"admin" "${makeScramVerifier(PASSWORD, { iterations: 1 })}"\n`);
  const certFile = join(dir, 'bench-local.crt');
  const keyFile = join(dir, 'bench-local.key');
  writeFileSync(certFile, identity.cert);
  writeFileSync(keyFile, identity.key, { mode: 0o600 });
  const env = { PGPASSWORD: PASSWORD };
  return [
    await proxyPath(cluster, ['--auth-file', authFile], { name: 'dsql-proxy+scram', conninfo: 'sslmode=disable', env }),
    await proxyPath(cluster, ['--auth-file', cheapFile], { name: 'dsql-proxy+scram-i1', conninfo: 'sslmode=disable', env }),
    await proxyPath(cluster, ['--auth-file', authFile, '--tls-cert', certFile, '--tls-key', keyFile],
      { name: 'dsql-proxy+tls+scram', conninfo: 'sslmode=require channel_binding=require', env }),
  ];
}
