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
    const listenersClosed = this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    const all = [...this.connections];
    for (const connection of all) connection.destroy();
    await Promise.all([...listenersClosed, ...all.map((c) => c.done)]);
  }

  /**
   * Graceful stop: stops accepting at once, lets sessions carry on, and after `graceMs` sends each one still open
   * FATAL 57P01 at a message boundary and closes it. Resolves when every connection is closed.
   * STUB: the draining change fills it in (today it closes at once).
   */
  async drain(graceMs: number): Promise<void> {
    void graceMs;
    await this.close();
  }

  private accept(socket: Socket): void {
    const connection = new ClientConnection(socket);
    this.connections.add(connection);
    void connection.done.then(() => this.connections.delete(connection));
    const log = this.log.child({ conn: this.nextId++ });
    runSession(connection, this.deps, this.cancelKeys, log).catch((error: unknown) => {
      log.error({ error: error instanceof Error ? error.message : String(error) }, 'session crashed');
      connection.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  }
}
