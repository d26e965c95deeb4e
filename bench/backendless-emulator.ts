import { readFileSync } from 'node:fs';
import { DsqlEmulator } from '../test/support/emulator.js';

/**
 * A separate process running the emulator in its bench-only backendless mode (logins completed and
 * queries answered by the emulator itself), so idle sessions and connection set-up can be measured
 * without a PostgreSQL backend per connection, and without sharing the orchestrator's file descriptors.
 * Reads its settings as JSON from BENCH_EMULATOR; prints "port N" once listening.
 */
const settings = JSON.parse(process.env.BENCH_EMULATOR ?? '{}') as {
  certFile: string; keyFile: string; region: string; serviceIdentifier: string; cluster: string;
  accessKeyId: string; secretAccessKey: string; staticPassword: string;
};
const emulator = new DsqlEmulator({
  postgres: { host: '127.0.0.1', port: 1 }, // never dialled in backendless mode
  identity: { cert: readFileSync(settings.certFile, 'utf8'), key: readFileSync(settings.keyFile, 'utf8') },
  region: settings.region,
  serviceIdentifier: settings.serviceIdentifier,
  clusters: [settings.cluster],
  secrets: new Map([[settings.accessKeyId, settings.secretAccessKey]]),
  benchOnlyStaticLogin: { password: settings.staticPassword, cluster: settings.cluster },
  noBackend: true,
  recordConnections: false,
});
const port = await emulator.start();
process.stdout.write(`port ${port}\n`);
process.on('SIGTERM', () => { void emulator.stop().then(() => process.exit(0)); });
