import { errorResponse } from '../protocol/messages.js';
import type { TransactionStatus } from './policy.js';

/** One message (or group) the proxy answers for the client instead of the server. */
export interface LocalItem {
  /** How many of the segment's remote messages (or statements) the server must have finished before it. */
  readonly after: number;
  /** PostgreSQL refuses it with 25P02 in a failed transaction (a Close or a Sync it does not). */
  readonly abortable: boolean;
  /** Its bytes, given the transaction status the segment started in. */
  readonly render: (status: TransactionStatus) => Buffer;
  /** An error answer: PostgreSQL skips what follows until the next Sync. */
  readonly error?: boolean;
  /** A local ReadyForQuery: sent even after an error, since it ends the skipping. */
  readonly sync?: boolean;
}

/** PostgreSQL's refusal of a statement in a failed transaction (postgres.c, "commands ignored"). */
export function inFailedTransaction(): Buffer {
  return errorResponse({
    severity: 'ERROR', code: '25P02',
    message: 'current transaction is aborted, commands ignored until end of transaction block',
  });
}

/**
 * A run of client messages holding at least one local answer: a simple Query, or the extended-protocol
 * messages up to a Sync. It starts when the server has sent every ReadyForQuery that was due before it
 * (`startZ` of them); its local answers are released in client order, each once the server has finished the
 * remote messages before it, and dropped once the server (or a local answer) reported an error.
 */
export class Segment {
  readonly items: LocalItem[] = [];
  /** Index of the next item to release. */
  private next = 0;
  /** Messages of this segment sent to the server that each end in one completion message. */
  remote = 0;
  /** Completion messages the server has sent for it so far. */
  completions = 0;
  /** Its Sync (or Query) has been read from the client. */
  closed = false;
  /** Its end is the server's ReadyForQuery (something of it went upstream), not a local one. */
  serverEnds = false;
  /** An error was reported: later local answers are dropped (PostgreSQL skips to the next Sync). */
  failed = false;
  /** A local error was sent: later client messages of the segment are dropped, not sent upstream. */
  dropping = false;
  /**
   * The proxy's own error (08P01, 42P05) came inside a transaction block: PostgreSQL would have failed the
   * transaction, so the client is told 'E' (the server's block is still open; the client's ROLLBACK ends both).
   */
  abortsTransaction = false;
  private started = false;
  private abortedAtStart = false;

  /** `simple`: a Query, whose completions are CommandComplete/EmptyQueryResponse; `startZ`: see the class. */
  constructor(readonly simple: boolean, readonly startZ: number) {}

  /** The remote count when the exchange last sent a Flush up for it (-1: never). */
  flushedAt = -1;

  /** Local answers not yet released. */
  get waiting(): number {
    return this.items.length - this.next;
  }

  /** True once everything it will ever send has been sent and no server answer of its own is due. */
  get finished(): boolean {
    return this.closed && !this.serverEnds && this.next === this.items.length;
  }

  /**
   * Sends (through `send`) every item whose remote predecessors are done, in order; `status` is the transaction
   * status of the last ReadyForQuery the server sent, which is the one this segment started in.
   */
  release(status: TransactionStatus, send: (bytes: Buffer) => void): void {
    if (!this.started) {
      this.started = true;
      this.abortedAtStart = status === 'E';
    }
    while (this.next < this.items.length) {
      const item = this.items[this.next]!;
      if (item.after > this.completions) return;
      this.next++;
      if (this.failed && !item.sync) continue;
      if (this.abortedAtStart && item.abortable && !this.failed && this.completions === 0) {
        // With something of it upstream, the server answers its own first statement (25P02, which fails the
        // segment; or a ROLLBACK, after which the rest is answered normally): this one is not answered.
        if (this.remote > 0 || this.serverEnds) continue;
        this.failed = true;
        this.dropping = true;
        send(inFailedTransaction());
        continue;
      }
      if (item.error) {
        this.failed = true;
        this.dropping = true;
        if (status === 'T') this.abortsTransaction = true;
      }
      send(item.render(item.sync && this.abortsTransaction ? 'E' : status));
    }
  }

  /** The server's own ReadyForQuery for it arrived: whatever is still queued is sent first, unless it failed. */
  end(status: TransactionStatus, send: (bytes: Buffer) => void): void {
    this.completions = Number.MAX_SAFE_INTEGER;
    this.release(status, send);
  }
}
