import { spawn } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { rmSync } from 'node:fs';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { issueServerCert, makeCa, type ServerIdentity, type TestCa } from '../support/certs.js';
import { CLUSTER_HOSTNAME } from '../support/harness.js';

/**
 * How the fake endpoint answers: TLS at once (`direct`), 'S' to an SSLRequest then TLS (`postgres`),
 * or accept TCP and never say a word (`silent`, a blackhole that holds the connection).
 */
export type FakeNegotiation = 'direct' | 'postgres' | 'silent';

/** What one accepted connection showed. */
export interface FakeConnection {
  /** True once the server side completed the TLS handshake. */
  secure: boolean;
  sni?: string | undefined;
  alpn?: string | undefined;
  /** True when the handshake resumed an earlier session (known even when the client then rejected it). */
  resumed?: boolean;
  /** Decrypted bytes the client sent after the handshake. */
  applicationBytes: number;
  /** True once the server's socket closed. */
  closed: boolean;
}

/**
 * A TLS server far smaller than the emulator, for dialer tests: its certificate, its negotiation and whether it
 * selects ALPN "postgresql" are the test's to choose, and can change between connections (sessions stay resumable:
 * one secure context, one set of ticket keys).
 */
export class FakeEndpoint {
  readonly connections: FakeConnection[] = [];
  /** Select ALPN "postgresql" when the client offers it; read per connection. */
  alpn: boolean;
  negotiation: FakeNegotiation;
  port = 0;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly context: SecureContext;

  constructor(identity: ServerIdentity, options: { negotiation: FakeNegotiation; alpn: boolean }) {
    this.context = createSecureContext({ cert: identity.cert, key: identity.key });
    this.negotiation = options.negotiation;
    this.alpn = options.alpn;
    this.server = createServer((raw) => this.accept(raw));
  }

  /** Listens on `host` (`port` 0 picks one) and returns the port. */
  async start(host = '127.0.0.1', port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  /** Closes every connection and the listener. */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Resolves once every accepted connection has closed on the server's side. */
  async allClosed(timeoutMs = 2_000): Promise<void> {
    const started = Date.now();
    while (this.connections.some((c) => !c.closed)) {
      if (Date.now() - started > timeoutMs) throw new Error(`${this.connections.filter((c) => !c.closed).length} connection(s) still open`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private accept(raw: Socket): void {
    const record: FakeConnection = { secure: false, applicationBytes: 0, closed: false };
    this.connections.push(record);
    this.sockets.add(raw);
    raw.on('error', () => undefined);
    raw.once('close', () => { record.closed = true; this.sockets.delete(raw); });
    if (this.negotiation === 'silent') { raw.resume(); return; } // reads and drops, so the client's close is seen
    if (this.negotiation === 'direct') { this.startTls(raw, record); return; }
    raw.once('data', () => {
      // The client waits for the answer before its ClientHello, so the SSLRequest arrives alone.
      raw.pause();
      raw.write('S');
      this.startTls(raw, record);
    });
  }

  private startTls(raw: Socket, record: FakeConnection): void {
    const secure = new TLSSocket(raw, {
      isServer: true, secureContext: this.context, ...(this.alpn ? { ALPNProtocols: ['postgresql'] } : {}),
    });
    secure.on('error', () => undefined);
    // A client that rejects the handshake closes before the server's 'secure', but OpenSSL knows by then whether it resumed.
    secure.once('end', () => { record.resumed ||= secure.isSessionReused(); });
    secure.once('secure', () => {
      record.secure = true;
      record.sni = (secure as TLSSocket & { servername?: string | false }).servername || undefined;
      record.alpn = secure.alpnProtocol || undefined;
      record.resumed = secure.isSessionReused();
    });
    secure.on('data', (chunk: Buffer) => { record.applicationBytes += chunk.length; });
  }
}

/** A port where TCP connects hang: a listener whose accept queue is full and whose process never accepts. */
export interface HangingListener {
  readonly port: number;
  stop(): void;
}

/**
 * Listens in a child process (backlog 1) that then blocks without spending CPU, and fills the accept queue:
 * Linux drops further SYNs, so a connect neither succeeds nor fails, like a blackholed address.
 */
export async function hangingListener(): Promise<HangingListener> {
  const script = 'const s = require("net").createServer(); s.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {'
    + ' console.log(s.address().port); setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000), 20); });';
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  await new Promise((r) => setTimeout(r, 100));
  const fillers: Socket[] = [];
  for (;;) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    fillers.push(socket);
    const connected = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true));
      setTimeout(() => resolve(false), 200);
    });
    if (!connected) break;
  }
  return { port, stop: () => { for (const s of fillers) s.destroy(); child.kill('SIGKILL'); } };
}

/** A test file's CA, a certificate for the cluster name, and fake endpoints stopped after each test. */
export interface FakeEndpoints {
  /** Set once beforeAll ran. */
  ca: TestCa;
  identity: ServerIdentity;
  /** Starts an endpoint on `host` (`port` 0 picks one) with the given behaviour and certificate. */
  start(negotiation: FakeNegotiation, options?: { alpn?: boolean; host?: string; port?: number; identity?: ServerIdentity }): Promise<FakeEndpoint>;
}

/** Registers the hooks behind FakeEndpoints for the calling test file. */
export function useFakeEndpoints(): FakeEndpoints {
  const started: FakeEndpoint[] = [];
  const fakes: FakeEndpoints = {
    ca: undefined as unknown as TestCa,
    identity: undefined as unknown as ServerIdentity,
    async start(negotiation, options = {}) {
      const server = new FakeEndpoint(options.identity ?? fakes.identity, { negotiation, alpn: options.alpn ?? true });
      started.push(server);
      await server.start(options.host, options.port);
      return server;
    },
  };
  beforeAll(() => {
    fakes.ca = makeCa();
    fakes.identity = issueServerCert(fakes.ca, [CLUSTER_HOSTNAME]);
  });
  afterEach(async () => { await Promise.all(started.splice(0).map((e) => e.stop())); });
  afterAll(() => rmSync(fakes.ca.dir, { recursive: true, force: true }));
  return fakes;
}
