import type { Duplex } from 'node:stream';
import { CompatExchange, type ExchangeOptions } from '../compat/exchange.js';
import { SqlState } from '../protocol/codes.js';
import { errorResponse } from '../protocol/messages.js';
import type { RelayFilter } from './relay.js';

/** What the client is told when the layer itself fails: a bug must end one session, never the process. */
const LAYER_FAILED = errorResponse({
  severity: 'FATAL', code: SqlState.internalError,
  message: 'dsql-proxy internal error in the SQL compatibility layer',
  hint: 'Please report this with the dsql-proxy log; --no-sql-compat relays statements unchanged meanwhile.',
});

/**
 * The SQL compatibility layer as a relay filter. Until the relay attaches, what it sends goes straight to the
 * sockets, so the bytes either side sent during the login can go through it first, in order.
 */
export class CompatFilter implements RelayFilter {
  private toServer: (bytes: Buffer) => void;
  private toClient: (bytes: Buffer) => void;
  private readonly exchange: CompatExchange;

  /** A filter for the session between `client` and `server`; `failed` hears of an unexpected error in the layer. */
  constructor(private readonly client: Duplex, private readonly server: Duplex, options: ExchangeOptions,
    private readonly failed: (error: unknown) => void) {
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
    try {
      return this.exchange.fromClient(chunk);
    } catch (error) {
      return this.fail(error);
    }
  }

  /** @inheritdoc */
  fromServer(chunk: Buffer): boolean {
    try {
      return this.exchange.fromServer(chunk);
    } catch (error) {
      return this.fail(error);
    }
  }

  /** Ends the session with a FATAL instead of letting the error escape the relay's data handler. */
  private fail(error: unknown): false {
    this.failed(error);
    this.server.destroy();
    if (this.client.writable) this.client.end(LAYER_FAILED, () => this.client.destroy());
    else this.client.destroy();
    return false;
  }

  /** @inheritdoc */
  holdsClient(): boolean {
    return this.exchange.saturated;
  }
}
