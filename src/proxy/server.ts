import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
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
  private readonly server: Server;
  private readonly connections = new Set<ClientConnection>();
  /** The cancel keys of this listener's sessions: a cancel is forwarded only for one of them. */
  readonly cancelKeys = new CancelKeys();
  private nextId = 1;

  /** Creates a server that is not yet listening. */
  constructor(private readonly deps: SessionDeps, private readonly log: Logger) {
    this.server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket));
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(address: HostPort): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: address.host, port: address.port }, () => {
        this.server.off('error', reject);
        this.server.on('error', (error) => this.log.error({ error: error.message }, 'listener error'));
        const bound = this.server.address() as AddressInfo;
        resolve({ host: bound.address, port: bound.port });
      });
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
    const listenerClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const all = [...this.connections];
    for (const connection of all) connection.destroy();
    await Promise.all([listenerClosed, ...all.map((c) => c.done)]);
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
