import type { TransactionStatus } from './policy.js';
import type { Segment } from './segment.js';
import { READY_FOR_QUERY, ServerScanner, type ServerEvents } from './server-scanner.js';

/**
 * Segments waiting for the server beyond which the client is not read (see CompatExchange.saturated): each costs
 * memory, and a client sending locally answered queries behind a long one would otherwise grow the queue without
 * bound.
 */
export const MAX_QUEUED_SEGMENTS = 256;

const ERROR_RESPONSE = 0x45; // 'E'
/** Backend messages that end one extended-protocol message's answer (Describe's ParameterDescription does not). */
const EXTENDED_COMPLETIONS = new Set([0x31, 0x32, 0x33, 0x6e, 0x54, 0x43, 0x49, 0x73]); // 1 2 3 n T C I s
/** Backend messages that end one statement of a simple Query. */
const SIMPLE_COMPLETIONS = new Set([0x43, 0x49]); // C I
const STATUS: Record<number, TransactionStatus> = { 0x49: 'I', 0x54: 'T', 0x45: 'E' };

/**
 * The proxy's answers waiting for the server, and the server's side of a session: it counts the ReadyForQuery
 * messages owed and received, follows the transaction status, and puts each queued answer into the server's
 * stream right after the server message it must follow. The server's bytes are never held back. No I/O.
 */
export class AnswerQueue implements ServerEvents {
  private readonly scanner = new ServerScanner(this);
  /** ReadyForQuery messages the server owes for what was sent upstream, and those it has sent. */
  private readySent = 0;
  private readySeen = 0;
  private status: TransactionStatus;
  /** Segments with local answers, oldest first. */
  private readonly queue: Segment[] = [];
  /** The server chunk being scanned, and the start of its bytes not yet sent on. */
  private chunk: Buffer | undefined;
  private runStart = 0;
  private chunkChanged = false;
  /** Sends the proxy's answers to the client at once (outside a server chunk). */
  private readonly direct = (bytes: Buffer): void => this.toClient(bytes);

  /** A queue writing to `toClient`; `initialStatus` is the login's ReadyForQuery status. */
  constructor(private readonly toClient: (bytes: Buffer) => void, initialStatus: TransactionStatus) {
    this.status = initialStatus;
  }

  /** Segments queued. */
  get length(): number {
    return this.queue.length;
  }

  /** How many ReadyForQuery messages the server owes so far: a segment opened now starts after that many. */
  get readyOwed(): number {
    return this.readySent;
  }

  /** Something sent upstream will end in a ReadyForQuery. */
  expectReady(): void {
    this.readySent++;
  }

  /** Queues `segment` behind the others. */
  push(segment: Segment): void {
    this.queue.push(segment);
  }

  /** The transaction status now, when nothing sent upstream is still unanswered; otherwise assumed not failed. */
  knownStatus(): TransactionStatus {
    return this.readySeen === this.readySent ? this.status : 'I';
  }

  /** True only when the session is known to be outside a transaction block (nothing sent upstream unanswered). */
  get knownIdle(): boolean {
    return this.readySeen === this.readySent && this.status === 'I';
  }

  /** Sends at once what the head segments can send (after client input added answers). */
  releaseNow(): void {
    if (this.queue.length > 0) this.release(this.direct);
  }

  /** Takes server bytes; true when the chunk is to go to the client as it is (the caller does it). */
  fromServer(chunk: Buffer): boolean {
    this.chunk = chunk;
    this.runStart = 0;
    this.chunkChanged = false;
    this.scanner.scan(chunk);
    this.chunk = undefined;
    if (!this.chunkChanged) return true;
    if (chunk.length > this.runStart) this.toClient(chunk.subarray(this.runStart));
    return false;
  }

  /** @inheritdoc */
  readyStarts(at: number): void {
    const head = this.queue[0];
    // The segment's own ReadyForQuery: anything still queued (not dropped) goes before it, when its header is in
    // this chunk (otherwise part of it has gone out already, and messageEnds sends the rest after it).
    if (at >= 0 && head && this.readySeen === head.startZ && head.serverEnds) head.end(this.status, this.injectAt(at));
  }

  /** @inheritdoc */
  messageEnds(type: number, at: number, status: number): void {
    const head = this.queue[0];
    if (type === READY_FOR_QUERY) {
      if (head && this.readySeen === head.startZ && head.serverEnds) {
        head.end(this.status, this.injectAt(at));
        this.queue.shift();
      }
      this.readySeen++;
      this.status = STATUS[status] ?? this.status;
      if (this.queue.length > 0) this.release(this.injectAt(at));
      return;
    }
    if (!head || this.readySeen !== head.startZ) return;
    if (type === ERROR_RESPONSE) { head.failed = true; return; }
    if ((head.simple ? SIMPLE_COMPLETIONS : EXTENDED_COMPLETIONS).has(type)) {
      head.completions++;
      head.release(this.status, this.injectAt(at));
    }
  }

  /** A sender that puts bytes into the server's stream at offset `at` of the chunk being scanned. */
  private injectAt(at: number): (bytes: Buffer) => void {
    return (bytes) => {
      const chunk = this.chunk!;
      if (at >= this.runStart) {
        if (at > this.runStart) this.toClient(chunk.subarray(this.runStart, at));
        this.runStart = at;
      }
      this.chunkChanged = true;
      this.toClient(bytes);
    };
  }

  /** Releases what the queue's head segments can send now, dropping the finished ones. */
  private release(send: (bytes: Buffer) => void): void {
    for (let head = this.queue[0]; head && this.readySeen === head.startZ; head = this.queue[0]) {
      head.release(this.status, send);
      if (!head.finished) return;
      if (head.abortsTransaction) this.status = 'E';
      this.queue.shift();
    }
  }
}
