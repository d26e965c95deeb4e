import { connect as tcpConnect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCa } from './support/certs.js';
import {
  Frames, loginToEmulator, openEmulatorTls, query, type Login, type LoginOptions, type OpenTlsOptions,
} from './support/emulator-client.js';
import type { DsqlEmulator, EmulatorFault } from './support/emulator.js';
import {
  CLUSTER_HOSTNAME, CLUSTER_ID, REGION, SERVICE_ID, VPCE_NAME, startEmulator, waitForActiveQuery,
} from './support/harness.js';
import {
  Deframer, cancelRequest, escapeOption, parseErrorFields, parseStartupPacket, splitOptions, sslRequest, startupMessage,
} from './support/wire.js';

/**
 * The emulator driven directly, with raw sockets and TLS and its own codec (not through the proxy): it must refuse
 * what DSQL refuses, or the proxy's tests would pass things DSQL would not.
 */

const UNKNOWN_CLUSTER_HOSTNAME = `zzzzzzzzzzzzzzzzzzzzzzzzzz.${SERVICE_ID}.${REGION}.on.aws`;

let emulator: DsqlEmulator;
let ca: TestCa;
beforeAll(async () => { ({ emulator, ca } = await startEmulator()); });
afterAll(async () => { await emulator?.stop(); });

const openTls = (port: number, options: OpenTlsOptions = {}): Promise<TLSSocket> => openEmulatorTls(port, { trust: ca, ...options });
const login = (parameters: Array<[string, string]>, options: LoginOptions = {}): Promise<Login> =>
  loginToEmulator(parameters, { on: { emulator, ca }, ...options });

describe('the emulator, like DSQL', () => {
  it('logs in a user with a valid token and database postgres, and relays to PostgreSQL', async () => {
    const session = await login([['user', 'admin'], ['database', 'postgres']]);
    expect(session.error).toBeUndefined();
    expect(session.record).toMatchObject({ kind: 'startup', sni: CLUSTER_HOSTNAME, clusterId: CLUSTER_ID, database: 'postgres', authenticated: true });
    expect(session.record.rejection).toBeUndefined();
    session.tls.write(query('select current_database()'));
    const row = await session.frames.until('D');
    expect(row?.toString('utf8', 11)).toBe('postgres');
    session.tls.end();
  });

  it('refuses a TLS connection that sent no SNI, with DSQL\'s message', async () => {
    const before = emulator.records.length;
    const tls = await openTls(emulator.port);
    const frames = new Frames(tls);
    tls.write(startupMessage([['user', 'admin'], ['database', 'postgres']]));
    const error = await frames.until('E');
    expect(parseErrorFields(error!)).toMatchObject({ S: 'FATAL', M: 'unable to accept connection, sni was not received' });
    expect(emulator.records[before]).toMatchObject({ sni: undefined, rejection: 'unable to accept connection, sni was not received' });
  });

  it('refuses a StartupMessage sent without TLS: SSL is mandatory', async () => {
    const socket = tcpConnect(emulator.port, '127.0.0.1');
    const frames = new Frames(socket);
    socket.write(startupMessage([['user', 'admin'], ['database', 'postgres']]));
    expect(parseErrorFields((await frames.until('E'))!).M).toMatch(/SSL is mandatory/);
  });

  it.each(['template1', 'app_reader'])('refuses database %s after authentication: FATAL 3D000, DSQL has only postgres', async (database) => {
    const session = await login([['user', 'admin'], ['database', database]]);
    expect(session.error).toMatchObject({ S: 'FATAL', C: '3D000', M: `database "${database}" does not exist` });
    expect(session.record).toMatchObject({ database, authenticated: true, rejection: `database "${database}" does not exist` });
  });

  it('refuses a StartupMessage without a database when the user is not postgres (the database defaults to the user name)', async () => {
    const session = await login([['user', 'app_reader']]);
    expect(session.error).toMatchObject({ C: '3D000', M: 'database "app_reader" does not exist' });
    // Refused by the emulator itself, not merely by the PostgreSQL behind it.
    expect(session.record).toMatchObject({ database: undefined, rejection: 'database "app_reader" does not exist' });
  });

  it('lets a StartupMessage without a database through when the user is postgres (the default is then postgres)', async () => {
    const session = await login([['user', 'postgres']]);
    // The emulator passes it on; the test PostgreSQL has no role "postgres" and says so itself.
    expect(session.error?.M).toBe('role "postgres" does not exist');
    expect(session.record).toMatchObject({ authenticated: true, database: undefined });
    expect(session.record.rejection).toBeUndefined();
  });

  it('records the amzn-cluster-id option of the vpce-name route and routes by it', async () => {
    const session = await login([['user', 'admin'], ['database', 'postgres'], ['options', `-c amzn-cluster-id=${CLUSTER_ID}`]], { servername: VPCE_NAME });
    expect(session.error).toBeUndefined();
    expect(session.record).toMatchObject({ sni: VPCE_NAME, clusterFromOptions: CLUSTER_ID, clusterId: CLUSTER_ID, authenticated: true });
    session.tls.end();
  });

  it('refuses a cluster it does not serve, named by SNI', async () => {
    const session = await login([['user', 'admin'], ['database', 'postgres']], { servername: UNKNOWN_CLUSTER_HOSTNAME });
    expect(session.error?.M).toMatch(/cluster zzzzzzzzzzzzzzzzzzzzzzzzzz not found/);
  });
});

describe('cancel requests at the emulator', () => {
  /** Sends a CancelRequest the way `how` says; resolves once the emulator closed the connection. */
  async function sendCancel(how: 'vpce SNI' | 'unknown cluster SNI' | 'no SNI' | 'no TLS' | 'cluster SNI', processId: number, key: Buffer): Promise<void> {
    const names: Record<string, string> = { 'vpce SNI': VPCE_NAME, 'unknown cluster SNI': UNKNOWN_CLUSTER_HOSTNAME, 'cluster SNI': CLUSTER_HOSTNAME };
    const servername = names[how];
    const socket: Socket = how === 'no TLS'
      ? tcpConnect(emulator.port, '127.0.0.1')
      : await openTls(emulator.port, servername === undefined ? {} : { servername });
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(cancelRequest(processId, key));
    socket.resume();
    await closed;
  }

  it.each(['vpce SNI', 'unknown cluster SNI', 'no SNI', 'no TLS'] as const)('drops a cancel with %s without forwarding it; one with the cluster SNI cancels', async (how) => {
    const sql = `select pg_sleep(30) -- emulator cancel, ${how}`;
    const session = await login([['user', 'admin'], ['database', 'postgres']]);
    session.tls.write(query(sql));
    await waitForActiveQuery(sql);

    const before = emulator.records.length;
    await sendCancel(how, session.processId!, session.key!);
    await new Promise((r) => setTimeout(r, 300)); // a forwarded cancel takes a few milliseconds
    await waitForActiveQuery(sql, 100); // still running: the cancel went nowhere
    const refused = emulator.records[before]!;
    expect(refused.forwarded ?? false).toBe(false);
    expect(refused.rejection).toBeDefined();
    if (how !== 'no SNI') expect(refused).toMatchObject({ kind: 'cancel', processId: session.processId });

    const beforeGood = emulator.records.length;
    await sendCancel('cluster SNI', session.processId!, session.key!);
    expect(parseErrorFields((await session.frames.until('E'))!).C).toBe('57014'); // query_canceled
    expect(emulator.records[beforeGood]).toMatchObject({ kind: 'cancel', sni: CLUSTER_HOSTNAME, processId: session.processId, forwarded: true });
    session.tls.end();
  });
});

describe('the no-alpn fault (a server before PostgreSQL 17)', () => {
  let old: { emulator: DsqlEmulator; ca: TestCa };
  beforeAll(async () => { old = await startEmulator({ fault: { kind: 'no-alpn' } satisfies EmulatorFault }); });
  afterAll(async () => { await old?.emulator.stop(); });

  it.each([true, false])('completes the handshake without selecting ALPN and does not refuse the login (direct TLS: %s)', async (direct) => {
    const tls = await openTls(old.emulator.port, { servername: CLUSTER_HOSTNAME, direct, trust: old.ca });
    expect(tls.alpnProtocol).toBe(false);
    tls.destroy();
    const session = await login([['user', 'admin'], ['database', 'postgres']], { on: old, direct });
    expect(session.error).toBeUndefined();
    expect(session.record).toMatchObject({ authenticated: true, alpn: undefined });
    expect(session.record.directTls ?? false).toBe(direct);
    session.tls.end();
  });
});

describe('the bench-only backendless mode', () => {
  it('takes the static password without SNI or cluster option, answers a query itself, and closes on Terminate', async () => {
    const bench = await startEmulator({ benchOnlyStaticLogin: { password: 'bench-password', cluster: CLUSTER_ID }, noBackend: true });
    try {
      const session = await login([['user', 'admin'], ['database', 'postgres']], { on: bench, servername: null, password: 'bench-password' });
      expect(session.error).toBeUndefined();
      expect(session.record).toMatchObject({ sni: undefined, clusterId: CLUSTER_ID, authenticated: true });
      session.tls.write(query('select 1'));
      expect((await session.frames.until('D'))?.toString('utf8', 11, 12)).toBe('1');
      expect((await session.frames.until('Z'))?.toString('utf8', 5)).toBe('I');
      const closed = new Promise<void>((resolve) => session.tls.once('close', () => resolve()));
      session.tls.write(Buffer.from([0x58, 0, 0, 0, 4])); // Terminate
      await closed;
    } finally {
      await bench.emulator.stop();
    }
  });
});

describe('the emulator\'s own wire codec', () => {
  it('splits options on whitespace with backslash escapes, and escapes words so they split back whole', () => {
    expect(splitOptions('  -c  a=1\t-c b=two\\ words  x\\\\y z\\')).toEqual(['-c', 'a=1', '-c', 'b=two words', 'x\\y', 'z']);
    const words = ['plain', 'with space', 'back\\slash', 'tab\there', ''];
    expect(splitOptions(words.map(escapeOption).join(' '))).toEqual(words.filter((w) => w !== ''));
  });

  it('parses startup packets and refuses malformed ones', () => {
    expect(parseStartupPacket(startupMessage([['user', 'u'], ['database', '']]))).toEqual({ kind: 'startup', version: 196608, parameters: [['user', 'u'], ['database', '']] });
    expect(parseStartupPacket(sslRequest())).toEqual({ kind: 'ssl' });
    expect(parseStartupPacket(cancelRequest(7, Buffer.from([1, 2, 3, 4])))).toMatchObject({ kind: 'cancel', processId: 7 });
    const unterminated = startupMessage([['user', 'u']]).subarray(0, -1);
    unterminated.writeInt32BE(unterminated.length, 0);
    expect(() => parseStartupPacket(unterminated)).toThrow(/terminator/);
    const tooLong = new Deframer();
    tooLong.push(Buffer.from([0, 0, 0x27, 0x15, 0, 3, 0, 0])); // 10,005 bytes: body over 10,000
    expect(() => tooLong.nextStartup()).toThrow(/invalid length/);
  });
});
