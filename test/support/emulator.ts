import { connect as tcpConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSecureContext, TLSSocket } from 'node:tls';
import { AuthCode, MessageType, PROTOCOL_3_0, SSL_REQUEST_CODE } from '../../src/protocol/codes.js';
import { Framer } from '../../src/protocol/framer.js';
import { authenticationRequest, errorResponse, parsePasswordMessage } from '../../src/protocol/messages.js';
import {
  escapeOptionValue, parseStartupPacket, serializeStartupMessage, splitOptions, type StartupParameter,
} from '../../src/protocol/startup.js';
import { MessageWriter } from '../../src/protocol/writer.js';
import { FrameStream } from '../../src/proxy/frame-stream.js';
import type { ServerIdentity } from './certs.js';
import { TokenRejected, verifyToken } from './sigv4.js';

/**
 * A stand-in for an Aurora DSQL PrivateLink connection endpoint, in front of a real PostgreSQL.
 * It insists on what DSQL insists on: TLS with SNI (after an SSLRequest, or direct with ALPN "postgresql"), a cluster named by SNI or by
 * `amzn-cluster-id` (and not two different ones), AuthenticationCleartextPassword answered by a SigV4
 * token it verifies itself. Then it relays to PostgreSQL with the cluster option removed.
 */

/** First byte of a TLS handshake record: a ClientHello sent without an SSLRequest (direct TLS). */
const TLS_HANDSHAKE_RECORD = 0x16;

/** What the emulator saw on one connection, for assertions. */
export interface EmulatorRecord {
  sni?: string | undefined;
  /** True when the client opened TLS directly (PostgreSQL 17 style) instead of after an SSLRequest. */
  directTls?: boolean;
  /** The ALPN protocol negotiated, if any. */
  alpn?: string | undefined;
  /** `options` exactly as received. */
  options?: string | undefined;
  clusterId?: string;
  user?: string;
  tokenHostname?: string;
  action?: string;
  /** True once the token verified. */
  authenticated?: boolean;
  /** Why the connection was refused. */
  rejection?: string;
  /** 'startup' or 'cancel'. */
  kind?: 'startup' | 'cancel';
}

/** Emulator set-up. */
export interface EmulatorOptions {
  readonly postgres: { host: string; port: number };
  readonly identity: ServerIdentity;
  readonly region: string;
  readonly serviceIdentifier: string;
  readonly clusters: readonly string[];
  /** Secret keys by access key id. */
  readonly secrets: ReadonlyMap<string, string>;
  /** Authentication request to send instead of cleartext (a fault knob). */
  readonly authRequest?: 'cleartext' | 'sasl';
  /** Shifts the emulator's clock (ms) to test expiry. */
  readonly clockOffsetMs?: number;
  /**
   * Bench only, never in tests: accept `password` instead of a token, a connection without SNI, and
   * `cluster` when none is named, because PgBouncer sends no SNI for an IP and no startup options.
   */
  readonly benchOnlyStaticLogin?: { readonly password: string; readonly cluster: string };
  /** Answer a successful login and simple queries itself, with no PostgreSQL backend (load tests and the bench). */
  readonly noBackend?: boolean;
  /** Keep a record per connection (default true); long bench runs turn it off. */
  readonly recordConnections?: boolean;
  /** A fault to inject, for the resilience tests; settable on a running emulator through `fault`. */
  readonly fault?: EmulatorFault;
}

/** Misbehaviours the emulator can be told to show. */
export type EmulatorFault =
  | { readonly kind: 'close-on-accept' }
  | { readonly kind: 'ignore-ssl-request' }
  | { readonly kind: 'refuse-tls' }
  | { readonly kind: 'stall-tls' }
  /** Answers a direct TLS ClientHello as a pre-17 PostgreSQL would: a plaintext FATAL about the startup packet. */
  | { readonly kind: 'no-direct-tls' }
  | { readonly kind: 'garbage-auth' }
  /** Relays normally, then sends FATAL 57P01 and closes after `ms` (DSQL's 60-minute limit, shortened). */
  | { readonly kind: 'terminate-after'; readonly ms: number }
  /** Relays normally, then drops the connection without a word once `bytes` went to the client. */
  | { readonly kind: 'close-mid-result'; readonly bytes: number }

/** A running emulator. */
export class DsqlEmulator {
  /** One record per connection, in accept order. */
  readonly records: EmulatorRecord[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly secureContext;
  port = 0;
  /** The fault in force for new connections (starts as options.fault). */
  fault: EmulatorFault | undefined;

  constructor(private readonly options: EmulatorOptions) {
    this.secureContext = createSecureContext({ cert: options.identity.cert, key: options.identity.key });
    this.fault = options.fault;
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Starts listening on 127.0.0.1 and returns the port. */
  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  /** Stops listening and closes every connection. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The hostnames a token may be signed for: the private-DNS name and the public one. */
  tokenHostnames(clusterId: string): string[] {
    const { serviceIdentifier, region } = this.options;
    return [`${clusterId}.${serviceIdentifier}.${region}.on.aws`, `${clusterId}.dsql.${region}.on.aws`];
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private accept(raw: Socket): void {
    this.track(raw);
    raw.setNoDelay(true);
    const record: EmulatorRecord = {};
    if (this.options.recordConnections !== false) this.records.push(record);
    const fault = this.fault;
    if (fault?.kind === 'close-on-accept') { raw.destroy(); return; }
    const framer = new Framer('startup');
    const onData = (chunk: Buffer): void => {
      if (framer.pending === 0 && chunk[0] === TLS_HANDSHAKE_RECORD) {
        raw.off('data', onData);
        if (fault?.kind === 'no-direct-tls') {
          record.rejection = 'direct TLS not supported';
          raw.end(errorResponse({ severity: 'FATAL', code: '08P01', message: 'invalid length of startup packet' }));
          return;
        }
        raw.pause();
        raw.unshift(chunk);
        if (fault?.kind === 'stall-tls') { raw.resume(); return; }
        record.directTls = true;
        this.startTls(raw, record, fault);
        return;
      }
      framer.push(chunk);
      let packet: Buffer | undefined;
      try { packet = framer.next(); } catch { raw.destroy(); return; }
      if (!packet) return;
      raw.off('data', onData);
      if (fault?.kind === 'ignore-ssl-request') return;
      if (fault?.kind === 'refuse-tls') { raw.write('N'); return; }
      if (packet.length !== 8 || packet.readInt32BE(4) !== SSL_REQUEST_CODE || framer.pending > 0) {
        record.rejection = 'no SSLRequest';
        raw.end(errorResponse({ severity: 'FATAL', code: '08P01', message: 'unable to accept connection, SSL is required' }));
        return;
      }
      raw.write('S');
      if (fault?.kind === 'stall-tls') { raw.resume(); return; } // reads the ClientHello, never answers
      this.startTls(raw, record, fault);
    };
    raw.on('data', onData);
  }

  private startTls(raw: Socket, record: EmulatorRecord, fault: EmulatorFault | undefined): void {
    const tls = new TLSSocket(raw, { isServer: true, secureContext: this.secureContext, ALPNProtocols: ['postgresql'] });
    this.track(tls);
    tls.once('secure', () => {
      record.sni = tls.servername || undefined;
      record.alpn = tls.alpnProtocol || undefined;
      // PostgreSQL 17 (and DSQL) refuse a direct TLS connection that did not negotiate ALPN "postgresql".
      if (record.directTls && record.alpn !== 'postgresql') {
        record.rejection = 'direct TLS without ALPN postgresql';
        tls.destroy();
        return;
      }
      void this.serve(tls, record, fault).catch((error: unknown) => {
        record.rejection ??= String(error);
        tls.destroy();
      });
    });
  }

  private async serve(tls: TLSSocket, record: EmulatorRecord, fault: EmulatorFault | undefined): Promise<void> {
    const fatal = (code: string, message: string): void => {
      record.rejection = message;
      tls.end(errorResponse({ severity: 'FATAL', code, message }));
    };
    const bench = this.options.benchOnlyStaticLogin;
    if (!record.sni && !bench) { fatal('08P01', 'unable to accept connection, sni was not received'); return; }
    const reader = new FrameStream(tls, 'startup');
    const packet = parseStartupPacket(await reader.next());
    if (packet.kind === 'cancel') {
      record.kind = 'cancel';
      const pg = tcpConnect(this.options.postgres.port, this.options.postgres.host);
      this.track(pg);
      pg.end(packet.raw);
      tls.end();
      return;
    }
    if (packet.kind !== 'startup') { fatal('08P01', `unexpected ${packet.kind} request inside TLS`); return; }
    record.kind = 'startup';
    const params = new Map(packet.parameters);
    const user = params.get('user') ?? '';
    record.user = user;
    record.options = params.get('options');
    const { clusterFromOptions, remainingOptions } = takeClusterOption(record.options ?? '');
    const clusterFromSni = record.sni ? this.clusterFromSni(record.sni) : undefined;
    if (clusterFromOptions && clusterFromSni && clusterFromOptions !== clusterFromSni) {
      fatal('08004', `cluster id in options (${clusterFromOptions}) does not match the one in SNI (${clusterFromSni})`);
      return;
    }
    const clusterId = clusterFromSni ?? clusterFromOptions ?? bench?.cluster;
    if (!clusterId) { fatal('08004', 'unable to accept connection, no cluster id in SNI or amzn-cluster-id option'); return; }
    if (!this.options.clusters.includes(clusterId)) { fatal('08004', `unable to accept connection, cluster ${clusterId} not found`); return; }
    record.clusterId = clusterId;

    reader.detach(); // a client sends nothing more until asked for a password
    if (fault?.kind === 'garbage-auth') { tls.write(Buffer.from('this is not a PostgreSQL message\n')); return; }
    if (this.options.authRequest === 'sasl') {
      tls.end(new MessageWriter(MessageType.authentication).int32(AuthCode.sasl).cstring('SCRAM-SHA-256').bytes(Buffer.from([0])).finish());
      return;
    }
    tls.write(authenticationRequest(AuthCode.cleartextPassword));
    const passwordReader = new FrameStream(tls, 'typed');
    const passwordFrame = await passwordReader.next().catch(() => undefined);
    const afterPassword = passwordReader.detach();
    if (!passwordFrame || passwordFrame[0] !== MessageType.passwordMessage) { fatal('08P01', 'expected a password message'); return; }
    const token = parsePasswordMessage(passwordFrame);
    if (bench && token === bench.password) {
      record.authenticated = true;
    } else try {
      const verified = verifyToken(token, {
        secrets: this.options.secrets,
        region: this.options.region,
        hostnames: this.tokenHostnames(clusterId),
        user,
        now: Date.now() + (this.options.clockOffsetMs ?? 0),
      });
      record.tokenHostname = verified.hostname;
      record.action = verified.action;
    } catch (error) {
      if (!(error instanceof TokenRejected)) throw error;
      fatal('28P01', `IAM authentication failed for user "${user}"`);
      record.rejection = `token rejected: ${error.message}`;
      return;
    }
    record.authenticated = true;
    if (this.options.noBackend) { holdIdleSession(tls); return; }

    const upstreamParams: StartupParameter[] = packet.parameters
      .map(([name, value]): StartupParameter => [name, name === 'options' ? remainingOptions : value])
      .filter(([name, value]) => !(name === 'options' && value === ''));
    const pg = tcpConnect(this.options.postgres.port, this.options.postgres.host);
    this.track(pg);
    pg.setNoDelay(true);
    pg.write(serializeStartupMessage(PROTOCOL_3_0, upstreamParams));
    if (afterPassword.length > 0) pg.write(afterPassword);
    tls.pipe(pg);
    tls.once('close', () => pg.destroy());
    pg.once('close', () => tls.destroy());
    if (fault?.kind === 'close-mid-result') {
      let sent = 0;
      pg.on('data', (chunk: Buffer) => {
        sent += chunk.length;
        if (sent >= fault.bytes) { tls.destroy(); pg.destroy(); } else tls.write(chunk);
      });
    } else {
      pg.pipe(tls);
    }
    if (fault?.kind === 'terminate-after') {
      const timer = setTimeout(() => {
        tls.end(errorResponse({ severity: 'FATAL', code: '57P01', message: 'terminating connection: maximum connection duration reached' }));
        pg.destroy();
      }, fault.ms);
      tls.once('close', () => clearTimeout(timer));
    }
  }

  private clusterFromSni(sni: string): string | undefined {
    const { serviceIdentifier, region } = this.options;
    for (const suffix of [`.${serviceIdentifier}.${region}.on.aws`, `.dsql.${region}.on.aws`]) {
      if (sni.endsWith(suffix)) return sni.slice(0, -suffix.length);
    }
    return undefined;
  }
}

/** Removes `-c amzn-cluster-id=<id>` (and `--amzn-cluster-id=<id>`) from an options string. */
function takeClusterOption(options: string): { clusterFromOptions: string | undefined; remainingOptions: string } {
  const words = splitOptions(options);
  const kept: string[] = [];
  let clusterFromOptions: string | undefined;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const setting = word === '-c' ? words[i + 1] : word.startsWith('--') ? word.slice(2) : undefined;
    if (setting?.startsWith('amzn-cluster-id=')) {
      clusterFromOptions = setting.slice('amzn-cluster-id='.length);
      if (word === '-c') i++;
      continue;
    }
    kept.push(word);
  }
  return { clusterFromOptions, remainingOptions: kept.map(escapeOptionValue).join(' ') };
}

/**
 * Backendless mode: completes the login the way PostgreSQL would, then answers every simple Query with one
 * row holding 1 (enough for pgbench -S) and closes on Terminate: the proxy's cost without a backend's.
 */
function holdIdleSession(tls: TLSSocket): void {
  const parameterStatus = new MessageWriter(MessageType.parameterStatus).cstring('server_version').cstring('16.0').finish();
  const keyData = new MessageWriter(MessageType.backendKeyData).int32(1).int32(2).finish();
  const ready = new MessageWriter(0x5a).bytes(Buffer.from('I')).finish();
  // Three columns (1, NULL, 0) satisfy pgbench's start-up queries (scale; partitioning) and -S alike.
  const column = (name: string): Buffer => new MessageWriter().cstring(name).int32(0).bytes(Buffer.from([0, 0])).int32(25)
    .bytes(Buffer.from([0xff, 0xff])).int32(-1).bytes(Buffer.from([0, 0])).finish().subarray(4);
  const rowDescription = new MessageWriter(0x54).bytes(Buffer.from([0, 3])).bytes(Buffer.concat(['a', 'b', 'c'].map(column))).finish();
  const dataRow = new MessageWriter(0x44).bytes(Buffer.from([0, 3])).int32(1).bytes(Buffer.from('1')).int32(-1).int32(1).bytes(Buffer.from('0')).finish();
  const complete = new MessageWriter(0x43).cstring('SELECT 1').finish();
  const answer = Buffer.concat([rowDescription, dataRow, complete, ready]);
  tls.write(Buffer.concat([authenticationRequest(AuthCode.ok), parameterStatus, keyData, ready]));
  const framer = new Framer('typed');
  tls.on('data', (chunk: Buffer) => {
    framer.push(chunk);
    for (let frame = framer.next(); frame; frame = framer.next()) {
      if (frame[0] === 0x51) tls.write(answer); // Query
      else if (frame[0] === 0x58) tls.end(); // Terminate
    }
  });
  tls.resume(); // the password reader left the socket paused
}
