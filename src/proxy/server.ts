import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { HostPort } from '../endpoint.js';
import type { Logger } from './ports.js';
import { runSession, type SessionDeps } from './session.js';

/**
 * Owns the listening socket and the set of open client connections; each connection
 * is served by runSession with the injected collaborators.
 */
export class ProxyServer {
  private readonly server: Server;
  private readonly connections = new Set<Socket>();
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

  /** Number of client connections currently open. */
  get openConnections(): number {
    return this.connections.size;
  }

  /** Stops accepting, closes every open connection and resolves when the listener is closed. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.connections) socket.destroy();
    });
  }

  private accept(socket: Socket): void {
    this.connections.add(socket);
    socket.once('close', () => this.connections.delete(socket));
    const log = this.log.child({ conn: this.nextId++ });
    runSession(socket, this.deps, log).catch((error: unknown) => {
      log.error({ error: error instanceof Error ? error.message : String(error) }, 'session crashed');
      socket.destroy();
    });
  }
}
