import { postgres } from '../support/harness.js';
import { queryMessage, RawClient } from '../support/raw-client.js';
import { startupMessage } from '../support/wire.js';

/** A raw protocol session with the test PostgreSQL (trust auth), to see exactly what the server sends. */
export class PostgresWire {
  private constructor(private readonly client: RawClient, readonly backendPid: number) {}

  /** Connects as the admin role and reads the login up to ReadyForQuery. */
  static async open(): Promise<PostgresWire> {
    const { port, adminUser } = postgres();
    const client = await RawClient.connect(port);
    client.send(startupMessage([['user', adminUser], ['database', 'postgres']]));
    const login = await client.until('Z');
    const key = login.find((f) => f[0] === 0x4b);
    if (!key) throw new Error('no BackendKeyData');
    return new PostgresWire(client, key.readInt32BE(5));
  }

  /** Sends one simple Query and returns every frame up to and including ReadyForQuery. */
  async query(sql: string): Promise<Buffer[]> {
    this.client.send(queryMessage(sql));
    return this.client.until('Z');
  }

  /** Sends raw frontend messages and returns every frame up to and including ReadyForQuery. */
  async send(bytes: Buffer): Promise<Buffer[]> {
    this.client.send(bytes);
    return this.client.until('Z');
  }

  /** Ends the session. */
  close(): void {
    this.client.socket.end();
  }
}

/** The type characters of `frames`, e.g. "TDCZ". */
export function types(frames: readonly Buffer[]): string {
  return frames.map((f) => String.fromCharCode(f[0]!)).join('');
}
