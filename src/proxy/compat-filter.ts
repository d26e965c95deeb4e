import type { Duplex } from 'node:stream';
import { CompatExchange, type ExchangeOptions } from '../compat/exchange.js';
import type { RelayFilter } from './relay.js';

/**
 * The SQL compatibility layer as a relay filter. Until the relay attaches, what it sends goes straight to the
 * sockets, so the bytes either side sent during the login can go through it first, in order.
 */
export class CompatFilter implements RelayFilter {
  private toServer: (bytes: Buffer) => void;
  private toClient: (bytes: Buffer) => void;
  private readonly exchange: CompatExchange;

  /** A filter for the session between `client` and `server`. */
  constructor(client: Duplex, server: Duplex, options: ExchangeOptions) {
    this.toServer = (bytes) => { server.write(bytes); };
    this.toClient = (bytes) => { client.write(bytes); };
    this.exchange = new CompatExchange({ toServer: (bytes) => this.toServer(bytes), toClient: (bytes) => this.toClient(bytes) }, options);
  }

  /** @inheritdoc */
  attach(toServer: (bytes: Buffer) => void, toClient: (bytes: Buffer) => void): void {
    this.toServer = toServer;
    this.toClient = toClient;
  }

  /** @inheritdoc */
  fromClient(chunk: Buffer): boolean {
    return this.exchange.fromClient(chunk);
  }

  /** @inheritdoc */
  fromServer(chunk: Buffer): boolean {
    return this.exchange.fromServer(chunk);
  }

  /** @inheritdoc */
  holdsClient(): boolean {
    return this.exchange.saturated;
  }
}
