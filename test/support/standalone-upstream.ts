import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { issueServerCert, makeCa } from './certs.js';
import { DsqlEmulator } from './emulator.js';
import { startPostgres, stopPostgres } from './postgres.js';

/**
 * A DSQL endpoint emulator in front of a real PostgreSQL, as a process of its own, for tests that run the proxy
 * somewhere a test process cannot reach in (the Docker image in .ci/docker-smoke.sh).
 *
 *   node standalone-upstream.js OUT_DIR
 *
 * It starts PostgreSQL and the emulator on 127.0.0.1 only (the container under test shares the host's network, so
 * loopback reaches it and no test traffic leaves loopback), and writes into OUT_DIR: `ca.crt` (the CA the
 * emulator's certificate chains to), `aws/config` and `aws/credentials` (a profile the emulator accepts) and
 * `upstream.env` (DSQL_PROXY_* settings and AWS_PROFILE naming that profile). Then it prints "ready" and runs until
 * SIGTERM or SIGINT, when it stops both and exits 0.
 */

const REGION = 'us-east-1';
const SERVICE_ID = 'dsql-smoke';
const CLUSTER_ID = 'smokesmokesmokesmokesmoke1';
const PROFILE = 'dsql-proxy-smoke';
/** Test-only credentials: the emulator knows the secret, AWS does not. */
const CREDENTIALS = { accessKeyId: 'AKIDDSQLPROXYSMOKE01', secretAccessKey: 'smoke/test/secret/not/real/00000000000' };

/** Writes a file others may read: the container's user is not the one running this. */
function writePublic(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o644);
}

/** The CA, an AWS profile the emulator accepts, and the settings naming both, for the proxy under test. */
function writeOutputs(outDir: string, caFile: string, endpoint: string): void {
  copyFileSync(caFile, join(outDir, 'ca.crt'));
  chmodSync(join(outDir, 'ca.crt'), 0o644);
  mkdirSync(join(outDir, 'aws'), { recursive: true, mode: 0o755 });
  writePublic(join(outDir, 'aws', 'config'), `[profile ${PROFILE}]\nregion = ${REGION}\n`);
  writePublic(join(outDir, 'aws', 'credentials'),
    `[${PROFILE}]\naws_access_key_id = ${CREDENTIALS.accessKeyId}\naws_secret_access_key = ${CREDENTIALS.secretAccessKey}\n`);
  writePublic(join(outDir, 'upstream.env'), [
    `DSQL_PROXY_CLUSTER_ID=${CLUSTER_ID}`, `DSQL_PROXY_ENDPOINT=${endpoint}`, `DSQL_PROXY_REGION=${REGION}`,
    `DSQL_PROXY_SERVICE_IDENTIFIER=${SERVICE_ID}`, `AWS_PROFILE=${PROFILE}`, '',
  ].join('\n'));
}

async function main(): Promise<void> {
  const [outDir, extra] = process.argv.slice(2);
  if (!outDir || extra !== undefined) throw new Error('usage: standalone-upstream OUT_DIR');
  const pg = await startPostgres();
  let emulator: DsqlEmulator | undefined;
  try {
    const ca = makeCa('dsql-proxy smoke CA');
    const identity = issueServerCert(ca, [`*.${SERVICE_ID}.${REGION}.on.aws`, `*.dsql.${REGION}.on.aws`]);
    emulator = new DsqlEmulator({
      postgres: pg, identity, region: REGION, serviceIdentifier: SERVICE_ID, clusters: [CLUSTER_ID],
      secrets: new Map([[CREDENTIALS.accessKeyId, CREDENTIALS.secretAccessKey]]),
    });
    // DsqlEmulator.start listens on 127.0.0.1; the endpoint is that address, so TLS, SNI and tokens stay end to end.
    writeOutputs(outDir, ca.certFile, `127.0.0.1:${await emulator.start()}`);
  } catch (error) {
    await emulator?.stop();
    stopPostgres(pg);
    throw error;
  }
  const running = emulator; // a const, so the handler below sees it as started
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await running.stop();
    stopPostgres(pg);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  process.stdout.write('ready\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`standalone-upstream: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
