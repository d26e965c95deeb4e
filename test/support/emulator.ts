import { connect as tcpConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSecureContext, TLSSocket } from 'node:tls';
import { holdIdleSession } from './backendless.js';
import type { EmulatorFault, EmulatorOptions, EmulatorRecord } from './emulator-types.js';
import { relayThroughRules, startupRefusal } from './emulator-session.js';
import { readPacket } from './read-packet.js';
import { TokenRejected, verifyToken } from './sigv4.js';
import {
  AUTH_CLEARTEXT_PASSWORD, Deframer, authenticationRequest, authenticationSasl, errorResponse, escapeOption,
  parsePasswordMessage, parseStartupPacket, splitOptions, startupMessage,
} from './wire.js';

/**
 * A stand-in for an Aurora DSQL PrivateLink connection endpoint, in front of a real PostgreSQL.
 * It insists on what DSQL insists on: TLS with SNI (after an SSLRequest, or direct with ALPN "postgresql"), a
 * cluster named by SNI or by `amzn-cluster-id` (and not two different ones), AuthenticationCleartextPassword
 * answered by a SigV4 token it verifies itself, the one database `postgres`, and cancels routed by an SNI that
 * names a known cluster, and (a strict choice, DSQL's behaviour being unconfirmed) no startup parameter outside
 * DSQL's session allowlist. Then it relays to PostgreSQL with the cluster option removed, refusing what DSQL
 * refuses in a session (emulator-session.ts: SET/RESET/set_config outside the allowlist, SET ROLE without LOCAL,
 * pg_backend_pid()). It speaks the wire through its own codec (wire.ts), never the proxy's.
 */

/** First byte of a TLS handshake record: a ClientHello sent without an SSLRequest (direct TLS). */
const TLS_HANDSHAKE_RECORD = 0x16;

export type { EmulatorFault, EmulatorOptions, EmulatorRecord } from './emulator-types.js';

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
    const deframer = new Deframer();
    const onData = (chunk: Buffer): void => {
      if (deframer.buffered === 0 && chunk[0] === TLS_HANDSHAKE_RECORD) {
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
      deframer.push(chunk);
      let bytes: Buffer | undefined;
      try { bytes = deframer.nextStartup(); } catch { raw.destroy(); return; }
      if (!bytes) return;
      raw.off('data', onData);
      if (fault?.kind === 'ignore-ssl-request') return;
      if (fault?.kind === 'refuse-tls') { raw.write('N'); return; }
      this.beforeTls(raw, record, fault, bytes, deframer.buffered > 0);
    };
    raw.on('data', onData);
  }

  /** The first plaintext packet: only an SSLRequest with nothing after it leads on to TLS. */
  private beforeTls(raw: Socket, record: EmulatorRecord, fault: EmulatorFault | undefined, bytes: Buffer, pipelined: boolean): void {
    let packet;
    try { packet = parseStartupPacket(bytes); } catch { raw.destroy(); return; }
    if (packet.kind === 'cancel') {
      // A plaintext cancel has no SNI, so DSQL cannot tell which cluster it is for.
      Object.assign(record, { kind: 'cancel', processId: packet.processId, forwarded: false, rejection: 'cancel request without TLS (no SNI)' });
      raw.end();
      return;
    }
    if (packet.kind !== 'ssl') {
      if (packet.kind === 'startup') record.kind = 'startup';
      record.rejection = 'no SSLRequest';
      raw.end(errorResponse({ severity: 'FATAL', code: '08P01', message: 'unable to accept connection, SSL is mandatory. AWS Authentication is required.' }));
      return;
    }
    if (pipelined) {
      record.rejection = 'data sent after SSLRequest before the TLS handshake';
      raw.end(errorResponse({ severity: 'FATAL', code: '08P01', message: 'received unencrypted data after SSL request' }));
      return;
    }
    raw.write('S');
    if (fault?.kind === 'stall-tls') { raw.resume(); return; } // reads the ClientHello, never answers
    this.startTls(raw, record, fault);
  }

  private startTls(raw: Socket, record: EmulatorRecord, fault: EmulatorFault | undefined): void {
    const noAlpn = fault?.kind === 'no-alpn';
    const tls = new TLSSocket(raw, { isServer: true, secureContext: this.secureContext, ...(noAlpn ? {} : { ALPNProtocols: ['postgresql'] }) });
    this.track(tls);
    tls.once('secure', () => {
      record.sni = tls.servername || undefined;
      record.alpn = tls.alpnProtocol || undefined;
      // PostgreSQL 17 (and DSQL) refuse a direct TLS connection that did not negotiate ALPN "postgresql";
      // the no-alpn fault plays an older server, which does not check.
      if (record.directTls && record.alpn !== 'postgresql' && !noAlpn) {
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
      tls.resume(); // drain the client's last bytes so its close is seen
    };
    const bench = this.options.benchOnlyStaticLogin;
    if (!record.sni && !bench) { fatal('08P01', 'unable to accept connection, sni was not received'); return; }
    const deframer = new Deframer();
    const bytes = await readPacket(tls, deframer, (d) => d.nextStartup());
    if (!bytes) return;
    const packet = parseStartupPacket(bytes);
    if (packet.kind === 'cancel') { this.cancel(tls, record, bytes, packet.processId); return; }
    if (packet.kind !== 'startup') { fatal('08P01', `unexpected ${packet.kind} request inside TLS`); return; }
    record.kind = 'startup';
    const params = new Map(packet.parameters);
    const user = params.get('user') ?? '';
    record.user = user;
    record.options = params.get('options');
    record.database = params.get('database');
    if (!user) { fatal('28000', 'no PostgreSQL user name specified in startup packet'); return; }
    const { clusterFromOptions, remainingOptions } = takeClusterOption(record.options ?? '');
    record.clusterFromOptions = clusterFromOptions;
    // Stricter than any parser: a cluster id in any other spelling (combined switches, a startup parameter of its
    // own) is refused, so a client's smuggled cluster id cannot pass a test unseen.
    const otherSpelling = /amzn[-_]cluster[-_]id/i;
    if (otherSpelling.test(remainingOptions) || packet.parameters.some(([name]) => otherSpelling.test(name))) {
      fatal('08004', 'unable to accept connection, a cluster id in an unexpected form');
      return;
    }
    const clusterFromSni = record.sni ? this.clusterFromSni(record.sni) : undefined;
    if (clusterFromOptions && clusterFromSni && clusterFromOptions !== clusterFromSni) {
      fatal('08004', `cluster id in options (${clusterFromOptions}) does not match the one in SNI (${clusterFromSni})`);
      return;
    }
    const clusterId = clusterFromSni ?? clusterFromOptions ?? bench?.cluster;
    if (!clusterId) { fatal('08004', 'unable to accept connection, no cluster id in SNI or amzn-cluster-id option'); return; }
    if (!this.options.clusters.includes(clusterId)) { fatal('08004', `unable to accept connection, cluster ${clusterId} not found`); return; }
    record.clusterId = clusterId;

    if (fault?.kind === 'garbage-auth') { tls.write(Buffer.from('this is not a PostgreSQL message\n')); return; }
    if (this.options.authRequest === 'sasl') { tls.end(authenticationSasl(['SCRAM-SHA-256'])); return; }
    tls.write(authenticationRequest(AUTH_CLEARTEXT_PASSWORD));
    const passwordFrame = await readPacket(tls, deframer, (d) => d.nextTyped(64 * 1024)).catch(() => undefined);
    if (!passwordFrame || passwordFrame[0] !== 'p'.charCodeAt(0)) { fatal('08P01', 'expected a password message'); return; }
    const token = parsePasswordMessage(passwordFrame);
    if (!(bench && token === bench.password)) {
      try {
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
    }
    record.authenticated = true;
    // As in PostgreSQL, the database is looked up after authentication, and an absent one means the user's name.
    const database = record.database || user;
    if (database !== 'postgres') { fatal('3D000', `database "${database}" does not exist`); return; }
    const refused = startupRefusal(packet.parameters, remainingOptions);
    if (refused) { fatal(refused.code, refused.message); return; }
    if (this.options.noBackend) { holdIdleSession(tls, deframer.rest()); return; }

    const upstreamParams = packet.parameters
      .map(([name, value]): [string, string] => [name, name === 'options' ? remainingOptions : value])
      .filter(([name, value]) => !(name === 'options' && value === ''));
    this.relay(tls, record, startupMessage(upstreamParams), deframer.rest(), fault);
  }

  /** A cancel carries no startup options: only an SNI naming a known cluster says where it goes. */
  private cancel(tls: TLSSocket, record: EmulatorRecord, bytes: Buffer, processId: number): void {
    Object.assign(record, { kind: 'cancel', processId, forwarded: false });
    const cluster = record.sni ? this.clusterFromSni(record.sni) : undefined;
    if (!cluster || !this.options.clusters.includes(cluster)) {
      record.rejection = cluster
        ? `cancel request for unknown cluster ${cluster}`
        : `cancel request whose SNI names no cluster (${record.sni ?? 'none'})`;
      tls.end();
      tls.resume();
      return;
    }
    const pg = tcpConnect(this.options.postgres.port, this.options.postgres.host);
    this.track(pg);
    pg.end(bytes);
    record.forwarded = true;
    tls.end();
    tls.resume();
  }

  /**
   * Opens the PostgreSQL session with `startup` and relays both ways, starting with `pending` (what the client
   * sent after its password), through DSQL's session rules (emulator-session.ts).
   */
  private relay(tls: TLSSocket, record: EmulatorRecord, startup: Buffer, pending: Buffer, fault: EmulatorFault | undefined): void {
    const pg = tcpConnect(this.options.postgres.port, this.options.postgres.host);
    this.track(pg);
    pg.setNoDelay(true);
    relayThroughRules(tls, pg, startup, pending, record, fault);
    if (fault?.kind === 'terminate-after') {
      const timer = setTimeout(() => {
        tls.end(errorResponse({ severity: 'FATAL', code: '57P01', message: 'terminating connection: maximum connection duration reached' }));
        pg.destroy();
      }, fault.ms);
      tls.once('close', () => clearTimeout(timer));
    }
  }

  /** The cluster id an SNI names: `<id>.<service-id>.<region>.on.aws` or `<id>.dsql.<region>.on.aws`. */
  private clusterFromSni(sni: string): string | undefined {
    const { serviceIdentifier, region } = this.options;
    for (const suffix of [`.${serviceIdentifier}.${region}.on.aws`, `.dsql.${region}.on.aws`]) {
      if (sni.endsWith(suffix) && !sni.slice(0, -suffix.length).includes('.')) return sni.slice(0, -suffix.length) || undefined;
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
  return { clusterFromOptions, remainingOptions: kept.map(escapeOption).join(' ') };
}
