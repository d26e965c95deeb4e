import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeStartupMessage } from '../../src/protocol/startup.js';
import { issueServerCert, makeCa } from '../support/certs.js';
import { DsqlEmulator } from '../support/emulator.js';
import { CLUSTER_ID, REGION, SERVICE_ID, TEST_CREDENTIALS, expectNoSecrets, postgres, startTestProxy, type TestProxy } from '../support/harness.js';
import { queryMessage, readUntilReady } from '../support/raw-client.js';

/** Load runs against a backendless emulator: the proxy's own behaviour, not 2,000 PostgreSQL backends. */
const ca = makeCa();
let emulator: DsqlEmulator;
let proxy: TestProxy;

beforeAll(async () => {
  emulator = new DsqlEmulator({
    postgres: postgres(), identity: issueServerCert(ca, [`*.${SERVICE_ID}.${REGION}.on.aws`]), region: REGION, serviceIdentifier: SERVICE_ID,
    clusters: [CLUSTER_ID], secrets: new Map([[TEST_CREDENTIALS.accessKeyId, TEST_CREDENTIALS.secretAccessKey]]), noBackend: true, recordConnections: false,
  });
  await emulator.start();
  proxy = await startTestProxy(emulator.port, ca);
});
afterAll(async () => {
  await proxy?.proxy.close();
  await emulator?.stop();
});

const STARTUP = serializeStartupMessage(196608, [['user', 'admin'], ['database', 'postgres']]);
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);
const openFds = (): number => readdirSync('/proc/self/fd').length;

/** One session: connect, log in, run `queries` selects, terminate, and wait for the close. */
async function session(port: number, queries: number, hold?: Promise<void>): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise((r) => socket.once('connect', r));
  socket.write(STARTUP);
  await readUntilReady(socket);
  for (let i = 0; i < queries; i++) {
    const answered = readUntilReady(socket);
    socket.write(queryMessage('select 1'));
    await answered;
    if (hold && i === 0) await hold;
  }
  const closed = new Promise((r) => socket.once('close', r));
  socket.end(TERMINATE);
  await closed;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 100 && proxy.proxy.server.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 300));
}

describe('load and leaks', () => {
  it('serves 2,000 concurrent sessions running queries, then returns to its descriptor and handle baseline', async () => {
    const fdsBefore = openFds();
    const handlesBefore = process.getActiveResourcesInfo().length;
    let release!: () => void;
    const hold = new Promise<void>((r) => { release = r; });
    const sessions = Array.from({ length: 2000 }, () => session(proxy.port, 3, hold));
    for (let i = 0; i < 300 && proxy.proxy.server.openConnections < 2000; i++) await new Promise((r) => setTimeout(r, 100));
    const concurrent = proxy.proxy.server.openConnections;
    release();
    await Promise.all(sessions);
    await settle();
    const fdsAfter = openFds();
    console.log(`load: ${concurrent} concurrent sessions; descriptors ${fdsBefore} → ${fdsAfter}; handles ${handlesBefore} → ${process.getActiveResourcesInfo().length}`);
    expect(concurrent).toBe(2000);
    expect(proxy.proxy.server.openConnections).toBe(0);
    expect(fdsAfter).toBeLessThanOrEqual(fdsBefore + 5);
    expect(process.getActiveResourcesInfo().length).toBeLessThanOrEqual(handlesBefore + 5);
  }, 300_000);

  const cycles = Number(process.env.LOAD_CYCLES ?? 2_000);
  it(`runs ${cycles} sequential connect/query/disconnect cycles without growing`, async () => {
    const fdsBefore = openFds();
    const rssBefore = process.memoryUsage().rss;
    const started = Date.now();
    for (let i = 0; i < cycles; i++) await session(proxy.port, 1);
    await settle();
    const rssGrowth = (process.memoryUsage().rss - rssBefore) / 1048576;
    console.log(`cycles: ${cycles} in ${((Date.now() - started) / 1000).toFixed(1)} s; descriptors ${fdsBefore} → ${openFds()}; RSS growth ${rssGrowth.toFixed(1)} MB`);
    expect(openFds()).toBeLessThanOrEqual(fdsBefore + 5);
    expect(rssGrowth).toBeLessThan(150); // generous: emulator, clients and proxy share this process
    expect(proxy.logs.lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
    expectNoSecrets(proxy.logs.text);
  }, 600_000);
});
