import { DsqlSigner } from '@aws-sdk/dsql-signer';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { expect } from 'vitest';
import type { TestCa } from './certs.js';
import type { DsqlEmulator, EmulatorRecord } from './emulator.js';
import { CLUSTER_HOSTNAME, REGION, TEST_CREDENTIALS } from './harness.js';
import { AUTH_CLEARTEXT_PASSWORD, Deframer, parseErrorFields, passwordMessage, sslRequest, startupMessage } from './wire.js';

/** A raw client of the emulator, speaking through the emulator's own codec (never the proxy's). */

/** How to open TLS to the emulator. */
export interface OpenTlsOptions { servername?: string; direct?: boolean; alpn?: string[]; trust?: TestCa }

/** How to log in. */
export interface LoginOptions { servername?: string | null; on?: { emulator: DsqlEmulator; ca: TestCa }; direct?: boolean; password?: string }

/** Typed backend messages read off a socket with the emulator's codec. */
export class Frames {
  private readonly deframer = new Deframer();
  private readonly queue: Buffer[] = [];
  private wake: (() => void) | undefined;
  private ended = false;

  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.deframer.push(chunk);
      for (let f = this.deframer.nextTyped(); f; f = this.deframer.nextTyped()) this.queue.push(f);
      this.wake?.();
    });
    socket.once('close', () => { this.ended = true; this.wake?.(); });
  }

  /** The next message, or undefined once the connection closed. */
  async next(): Promise<Buffer | undefined> {
    while (this.queue.length === 0 && !this.ended) await new Promise<void>((resolve) => { this.wake = resolve; });
    return this.queue.shift();
  }

  /** Reads until a message of one of `types` (or the end); returns it. */
  async until(...types: string[]): Promise<Buffer | undefined> {
    for (let f = await this.next(); f; f = await this.next()) if (types.includes(String.fromCharCode(f[0]!))) return f;
    return undefined;
  }
}

/** A TLS connection to the emulator, after an SSLRequest or direct. */
export async function openEmulatorTls(port: number, options: OpenTlsOptions & { trust: TestCa }): Promise<TLSSocket> {
  const socket = tcpConnect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  if (!options.direct) {
    const answer = new Promise<Buffer>((resolve) => socket.once('data', resolve));
    socket.write(sslRequest());
    expect((await answer).toString()).toBe('S');
  }
  const tls = tlsConnect({
    socket, ca: [options.trust.cert], ALPNProtocols: options.alpn ?? ['postgresql'],
    ...(options.servername === undefined ? {} : { servername: options.servername }),
    checkServerIdentity: () => undefined, // the vpce name is not on the certificate, as with DSQL
  });
  await new Promise<void>((resolve, reject) => { tls.once('secureConnect', resolve); tls.once('error', reject); });
  tls.on('error', () => undefined);
  return tls;
}

/** Signs a token for `user` as the proxy would for the cluster's private-DNS name. */
export function sign(user: string, hostname = CLUSTER_HOSTNAME): Promise<string> {
  const signer = new DsqlSigner({ hostname, region: REGION, credentials: { ...TEST_CREDENTIALS } });
  return user === 'admin' ? signer.getDbConnectAdminAuthToken() : signer.getDbConnectAuthToken();
}

/** What a login attempt ended with. */
export interface Login {
  readonly tls: TLSSocket;
  readonly frames: Frames;
  /** The ErrorResponse fields, if it failed. */
  readonly error?: Record<string, string>;
  readonly processId?: number;
  readonly key?: Buffer;
  /** The emulator's record of this connection. */
  readonly record: EmulatorRecord;
}

/** Opens TLS, sends a StartupMessage, answers the password request with a fresh token, reads to ReadyForQuery or an error. */
export async function loginToEmulator(
  parameters: Array<[string, string]>,
  options: LoginOptions & { on: { emulator: DsqlEmulator; ca: TestCa } },
): Promise<Login> {
  const target = options.on.emulator;
  const before = target.records.length;
  const servername = options.servername === null ? {} : { servername: options.servername ?? CLUSTER_HOSTNAME };
  const tls = await openEmulatorTls(target.port, { ...servername, direct: options.direct ?? false, trust: options.on.ca });
  const frames = new Frames(tls);
  tls.write(startupMessage(parameters));
  const record = (): EmulatorRecord => target.records[before]!;
  const first = await frames.until('R', 'E');
  if (first?.[0] === 0x45) return { tls, frames, error: parseErrorFields(first), record: record() };
  expect(first?.readInt32BE(5)).toBe(AUTH_CLEARTEXT_PASSWORD);
  const user = parameters.find(([name]) => name === 'user')![1];
  tls.write(passwordMessage(options.password ?? await sign(user)));
  let processId: number | undefined;
  let key: Buffer | undefined;
  for (let f = await frames.next(); f; f = await frames.next()) {
    if (f[0] === 0x45) return { tls, frames, error: parseErrorFields(f), record: record() };
    if (f[0] === 0x4b) { processId = f.readInt32BE(5); key = f.subarray(9); }
    if (f[0] === 0x5a) return { tls, frames, processId: processId!, key: key!, record: record() };
  }
  throw new Error('connection closed during login');
}

/** A simple Query message. */
export function query(sql: string): Buffer {
  const body = Buffer.from(`${sql}\0`);
  const head = Buffer.alloc(5);
  head.write('Q');
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

