import { chmod } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { clearStaleSocket } from './unix-socket.js';
import type { HostPort } from '../endpoint.js';
import { CancelKeys } from './cancel-keys.js';
import { ClientConnection } from './connection.js';
import type { Logger } from './ports.js';
import { runSession, type SessionDeps } from './session.js';

/**
 * Owns the listening socket and every connection it accepted, with the sockets each one opened upstream;
 * each connection is served by runSession with the injected collaborators.
 */
export class ProxyServer {
  private readonly servers: Server[] = [];
  private readonly connections = new Set<ClientConnection>();
  /** The cancel keys of this listener's sessions: a cancel is forwarded only for one of them. */
  readonly cancelKeys = new CancelKeys();
  private nextId = 1;
  private readonly seen = new Set<string>();
  /** True the first time `key` is asked about: what a warning logged once per listener is keyed by. */
  private readonly firstTime = (key: string): boolean => {
    if (this.seen.has(key)) return false;
    if (this.seen.size >= 1_000) return false; // bounded: clients choose these names
    this.seen.add(key);
    return true;
  };
  private listenersClosed: Promise<void> | undefined;

  /** Creates a server that is not yet listening. */
  constructor(private readonly deps: SessionDeps, private readonly log: Logger) {}

  /** Starts listening on a TCP address; resolves with the bound address (port 0 picks a free one). */
  async listen(address: HostPort): Promise<HostPort> {
    const server = await this.open((server) => server.listen({ host: address.host, port: address.port }));
    const bound = server.address() as AddressInfo;
    return { host: bound.address, port: bound.port };
  }

  /**
   * Also listens on a unix socket at `path` with file mode `mode`. A stale socket file left by a process that died is
   * replaced; one another process still serves is not. The file is created under a umask that keeps everyone else
   * out until the mode is set, and net.Server removes it on close.
   */
  async listenUnix(path: string, mode: number): Promise<void> {
    await clearStaleSocket(path);
    await this.open((server) => {
      const previous = process.umask(0o177); // bind creates the file synchronously, under this mask
      try {
        server.listen({ path });
      } finally {
        process.umask(previous);
      }
    });
    await chmod(path, mode);
  }

  private open(start: (server: Server) => void): Promise<Server> {
    const server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.once('listening', () => {
        server.off('error', reject);
        server.on('error', (error) => this.log.error({ error: error.message }, 'listener error'));
        this.servers.push(server);
        resolve(server);
      });
      start(server);
    });
  }

  /** Number of connections whose client or upstream sockets are still open. */
  get openConnections(): number {
    return this.connections.size;
  }

  /**
   * Stops accepting, destroys every client and upstream socket this server holds, and resolves once the
   * listener and all of them are closed.
   */
  async close(): Promise<void> {
    const listenersClosed = this.stopListening();
    const all = [...this.connections];
    for (const connection of all) connection.destroy();
    await Promise.all([listenersClosed, ...all.map((c) => c.done)]);
  }

  /** Closes every listening socket once (drain then close is fine); resolves when they are closed. */
  private stopListening(): Promise<void> {
    this.listenersClosed ??= Promise.all(this.servers.map((server) => new Promise<void>((resolve) => {
      // net.Server's callback waits for the connections it accepted too: the listening socket itself is shut at once.
      server.close(() => resolve());
    }))).then(() => undefined);
    return this.listenersClosed;
  }

  /**
   * Graceful stop: stops accepting at once (the port is free for a successor), lets sessions carry on, and after
   * `graceMs` ends each one still open: a relayed session at the next message boundary with FATAL 57P01, one still
   * starting with the same FATAL at once. Resolves when every connection is closed.
   */
  async drain(graceMs: number): Promise<void> {
    const listenersClosed = this.stopListening();
    const open = [...this.connections];
    if (open.length > 0) {
      const timer = setTimeout(() => { for (const connection of this.connections) connection.terminate(); }, graceMs);
      await Promise.all(open.map((connection) => connection.done));
      clearTimeout(timer);
    }
    await listenersClosed;
  }

  private accept(socket: Socket): void {
    const connection = new ClientConnection(socket);
    this.connections.add(connection);
    const { slots, metrics } = this.deps;
    const slotTaken = slots ? slots.tryTake() : true;
    metrics?.connectionAccepted();
    void connection.done.then(() => {
      this.connections.delete(connection);
      if (slots && slotTaken) slots.release();
    });
    const log = this.log.child({ conn: this.nextId++ });
    runSession(connection, this.deps, this.cancelKeys, log, { overLimit: !slotTaken, firstTime: this.firstTime }).catch((error: unknown) => {
      log.error({ error: error instanceof Error ? error.message : String(error) }, 'session crashed');
      connection.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  }
}
