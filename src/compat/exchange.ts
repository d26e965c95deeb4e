import { ProtocolError } from '../protocol/errors.js';
import { readyForQuery, setLocalOutsideTransactionWarning, simpleQueryAnswer } from './answers.js';
import { mayBeAnsweredLocally, type Classification, type LocalStatement } from './classify.js';
import { ClientFramer, type FrameHandler } from './client-framer.js';
import { ClientType, readBind, readExecute, readParse, readTarget } from './extended.js';
import { answerLocally, type TransactionStatus } from './policy.js';
import { LocalPrepared, type PreparedAnswer } from './prepared.js';
import { planQuery, queryMessage, soleStatement } from './query-plan.js';
import { Segment, type LocalItem } from './segment.js';
import { AnswerQueue, MAX_QUEUED_SEGMENTS } from './answer-queue.js';

export { MAX_QUEUED_SEGMENTS };

/** Where the exchange sends bytes. */
export interface ExchangeSinks {
  /** Client bytes for the server, in order. */
  toServer(bytes: Buffer): void;
  /** Bytes for the client: the server's (valid only during the call) and the proxy's answers, in order. */
  toClient(bytes: Buffer): void;
}

/** What one session's exchange needs to know. */
export interface ExchangeOptions {
  /** The pid the client was told in BackendKeyData (absent: pg_backend_pid() goes to the server). */
  readonly backendPid: number | undefined;
  /** The transaction status of the login's ReadyForQuery. */
  readonly initialStatus: TransactionStatus;
  /** Largest Query or Parse message examined; larger ones pass unread (default MAX_EXAMINED_BYTES). */
  readonly maxExaminedBytes?: number;
  /** Told of each statement answered locally (for the debug log; it carries values, which must not be logged). */
  readonly answered?: (statement: LocalStatement) => void;
  /** Told once when the layer steps aside for the rest of the session, and why. */
  readonly steppedAside?: (reason: string) => void;
}

/** Queries and Parse messages up to this size are examined; DSQL itself refuses messages over 10 MiB. */
export const MAX_EXAMINED_BYTES = 1024 * 1024;

/**
 * Local answers of one extended-protocol group waiting for the server beyond which the client is not read, and a
 * Flush is sent up so that the server answers what it holds (a group with no Sync could otherwise grow forever).
 */
export const MAX_WAITING_ANSWERS = 1024;

/** A Flush message, sent up when a group's local answers wait on server answers it would hold until Sync. */
const FLUSH = Buffer.from([ClientType.flush, 0, 0, 0, 4]);

/**
 * Most statements of one Query the proxy answers: each held answer costs a few hundred bytes, and a 1 MiB Query of
 * `set a=1;` would otherwise hold 130 000 of them (~50 MB). A Query with more goes to the server as it is.
 */
export const MAX_LOCAL_PER_QUERY = 1000;

/** Extended-protocol messages answered by exactly one completion message. */
const COUNTED = new Set<number>([ClientType.parse, ClientType.bind, ClientType.describe, ClientType.execute, ClientType.close]);


/**
 * The SQL compatibility layer of one session (no I/O): takes the client's and the server's bytes, answers
 * what DSQL refuses but clients send (see policy.ts), and sends everything else on unchanged and in order. The
 * server's stream is only scanned (headers), never held back; the client's Query and Parse messages are read
 * whole, every other message streams through.
 */
export class CompatExchange implements FrameHandler {
  private readonly framer: ClientFramer;
  private readonly queue: AnswerQueue;
  /** The extended-protocol segment being read from the client, once it holds a local answer. */
  private open: Segment | undefined;
  /** Counted messages sent upstream since the last Sync while `open` is unset. */
  private remoteSinceSync = 0;
  private readonly prepared: LocalPrepared;
  /** The layer stepped aside: every message goes up unread; only what was queued before is still answered. */
  private aside = false;
  private readonly maxExamined: number;

  /** An exchange writing to `sinks`. */
  constructor(sinks: ExchangeSinks, private readonly options: ExchangeOptions) {
    this.framer = new ClientFramer(this, (bytes) => sinks.toServer(bytes));
    this.queue = new AnswerQueue((bytes) => sinks.toClient(bytes), options.initialStatus);
    this.maxExamined = options.maxExaminedBytes ?? MAX_EXAMINED_BYTES;
    this.prepared = new LocalPrepared(options.backendPid ?? 0);
  }

  /** Takes client bytes; true when the chunk is to be sent upstream as it is (the caller does it). */
  fromClient(chunk: Buffer): boolean {
    return this.framer.feed(chunk);
  }

  /** Takes server bytes; true when the chunk is to go to the client as it is (the caller does it). */
  fromServer(chunk: Buffer): boolean {
    return this.queue.fromServer(chunk);
  }

  /** True while local answers wait for the server (the server's stream is then read message by message). */
  get pending(): boolean {
    return this.queue.length > 0;
  }

  /**
   * True while so many segments wait for the server that the client should not be read until it answers. Every
   * segment but the open one has sent its Sync or Query (or is local), so the server's answers empty the queue
   * without more client input, and pausing the client cannot deadlock.
   */
  get saturated(): boolean {
    return this.queue.length > MAX_QUEUED_SEGMENTS || (this.open?.waiting ?? 0) > MAX_WAITING_ANSWERS;
  }

  // ---- client side (FrameHandler) ----

  /** @inheritdoc */
  wantsWhole(type: number, length: number): boolean {
    if (length >= this.maxExamined || this.aside) return false;
    if (type === ClientType.query || type === ClientType.parse || type === ClientType.sync || type === ClientType.flush) return true;
    if (this.open?.dropping) return true;
    return COUNTED.has(type) && !this.prepared.empty;
  }

  /** @inheritdoc */
  passing(type: number): boolean {
    if (this.aside) return true;
    // After the proxy's own error PostgreSQL skips everything up to the Sync, a message too large to read included.
    if (this.open?.dropping) return false;
    if ((type === ClientType.parse || type === ClientType.bind) && !this.prepared.empty) this.prepared.forgetAll();
    this.countPassing(type);
    return true;
  }

  /** @inheritdoc */
  passesWhole(chunk: Buffer, start: number, end: number): boolean {
    if (this.open) return false;
    switch (chunk[start]) {
      case ClientType.query:
        if (this.remoteSinceSync > 0 || chunk[end - 1] !== 0 || mayBeAnsweredLocally(chunk, start + 5, end - 1)) return false;
        this.prepared.forgetUnnamed();
        this.queue.expectReady();
        return true;
      case ClientType.parse: {
        if (!this.prepared.empty) return false;
        const nameEnd = chunk.indexOf(0, start + 5);
        const queryEnd = nameEnd < 0 ? -1 : chunk.indexOf(0, nameEnd + 1);
        if (queryEnd < 0 || queryEnd >= end || mayBeAnsweredLocally(chunk, nameEnd + 1, queryEnd)) return false;
        this.countRemote();
        return true;
      }
      case ClientType.sync:
        this.sync();
        return true;
      case ClientType.flush:
        return true;
      default:
        return false;
    }
  }

  /** @inheritdoc */
  whole(message: Buffer): Buffer | undefined {
    const type = message[0]!;
    if (this.open?.dropping && type !== ClientType.sync) return undefined;
    try {
      switch (type) {
        case ClientType.query: return this.query(message);
        case ClientType.parse: return this.parse(message);
        case ClientType.bind: return this.extended(message, this.prepared.bind(readBind(message)));
        case ClientType.describe: return this.extended(message, this.prepared.describe(readTarget(message)));
        case ClientType.execute: return this.extended(message, this.prepared.execute(readExecute(message)));
        case ClientType.close: return this.extended(message, this.prepared.close(readTarget(message)));
        case ClientType.sync: return this.sync() ? message : undefined;
        case ClientType.flush: return this.open && this.open.remote === 0 ? undefined : message;
        default: this.countPassing(type); return message;
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      // A malformed message goes to the server as it is: its error is the one PostgreSQL would give.
      this.countPassing(type);
      return message;
    } finally {
      this.queue.releaseNow();
    }
  }

  /** A message that goes upstream as it is, for the server to answer. */
  private countPassing(type: number): void {
    if (COUNTED.has(type)) this.countRemote();
    else if (type === ClientType.query || type === ClientType.functionCall) this.remoteEndsSegment();
  }

  private query(message: Buffer): Buffer | undefined {
    // A Query after extended messages with no Sync: the server's answers to both end in one ReadyForQuery, which
    // the statement counts of a split Query cannot follow; it goes up as it is.
    // PostgreSQL also skips it when an earlier message of the group fails, so whether a ReadyForQuery is due for
    // it is only known later: the layer steps aside for the rest of the session (what is queued still drains).
    if (this.open || this.remoteSinceSync > 0) {
      this.remoteEndsSegment();
      this.aside = true;
      this.options.steppedAside?.('a Query arrived inside an extended-protocol group before its Sync');
      return message;
    }
    this.prepared.forgetUnnamed();
    const text = message.subarray(5, message.length - 1);
    if (message[message.length - 1] !== 0 || !mayBeAnsweredLocally(text)) { this.queue.expectReady(); return message; }
    const status = this.queue.knownStatus();
    const plan = planQuery(text, (kind): kind is LocalStatement => this.answerable(kind, status));
    if (plan.local.length === 0 || plan.local.length > MAX_LOCAL_PER_QUERY) { this.queue.expectReady(); return message; }
    const segment = new Segment(true, this.queue.readyOwed);
    this.queue.push(segment);
    const alone = plan.statements === 1;
    for (const { statement, after } of plan.local) {
      this.options.answered?.(statement);
      segment.items.push({ after, abortable: true, render: (at) => this.simpleAnswer(statement, at, alone) });
    }
    segment.closed = true;
    if (plan.remote.length === 0) {
      segment.items.push(READY_ITEM);
      return undefined;
    }
    segment.remote = plan.remote.length;
    segment.serverEnds = true;
    this.queue.expectReady();
    return queryMessage(plan.remote);
  }

  private parse(message: Buffer): Buffer | undefined {
    const fields = readParse(message);
    let statement: LocalStatement | undefined;
    if (fields.parameterTypes === 0 && mayBeAnsweredLocally(fields.query)) {
      const kind = soleStatement(fields.query);
      if (this.answerable(kind, this.queue.knownStatus())) statement = kind;
    }
    if (statement) this.options.answered?.(statement);
    return this.extended(message, this.prepared.parse(fields.statement, statement));
  }

  /** Forwards `message` when `answer` is undefined; otherwise queues the answer and forwards nothing. */
  private extended(message: Buffer, answer: PreparedAnswer | undefined): Buffer | undefined {
    if (!answer) { this.countRemote(); return message; }
    if (!this.open) {
      this.open = new Segment(false, this.queue.readyOwed);
      this.open.remote = this.remoteSinceSync;
      this.queue.push(this.open);
    }
    const after = this.open.remote;
    const { render } = answer;
    // PostgreSQL warns about a SET LOCAL run outside a transaction block: idle, and nothing of the group before it.
    const warned = answer.setLocal && after === 0
      ? (status: TransactionStatus): Buffer => (status === 'I' ? Buffer.concat([setLocalOutsideTransactionWarning(), render(status)]) : render(status))
      : render;
    this.open.items.push({ ...answer, after, render: warned });
    // PostgreSQL skips every message after an error until the next Sync.
    if (answer.error) this.open.dropping = true;
    if (this.open.waiting > MAX_WAITING_ANSWERS && this.open.remote > this.open.flushedAt) {
      this.open.flushedAt = this.open.remote;
      return FLUSH;
    }
    return undefined;
  }

  /** A Sync: true when it goes up (the server answers it), false when the proxy answers it. */
  private sync(): boolean {
    const segment = this.open;
    this.open = undefined;
    // Outside a block, a Sync commits the implicit transaction and its portals end; after remote messages, or
    // behind unanswered ones (a pipelined BEGIN), the status is not known here, so the portals are kept.
    this.prepared.synced(this.queue.knownIdle && (segment ? segment.remote : this.remoteSinceSync) === 0);
    this.remoteSinceSync = 0;
    if (!segment) { this.queue.expectReady(); return true; }
    segment.closed = true;
    if (segment.remote > 0) {
      segment.serverEnds = true;
      this.queue.expectReady();
      return true;
    }
    segment.items.push(READY_ITEM);
    return false;
  }

  /** A Query or FunctionCall that goes upstream as it is: it ends the open segment, and a ReadyForQuery is due. */
  private remoteEndsSegment(): void {
    this.prepared.forgetUnnamed();
    if (this.open) {
      this.open.remote++;
      this.open.closed = true;
      this.open.serverEnds = true;
      this.open = undefined;
    }
    this.remoteSinceSync = 0;
    this.queue.expectReady();
  }

  private countRemote(): void {
    if (this.open) this.open.remote++;
    else this.remoteSinceSync++;
  }

  private answerable(kind: Classification, status: TransactionStatus): kind is LocalStatement {
    if (!answerLocally(kind, status)) return false;
    return kind.kind !== 'backend_pid' || this.options.backendPid !== undefined;
  }

  private simpleAnswer(statement: LocalStatement, status: TransactionStatus, alone: boolean): Buffer {
    const answer = simpleQueryAnswer(statement, this.options.backendPid ?? 0);
    const warn = alone && status === 'I' && statement.kind === 'set' && statement.local;
    return warn ? Buffer.concat([setLocalOutsideTransactionWarning(), answer]) : answer;
  }
}

/** A local ReadyForQuery carrying the status the segment started in (local answers do not change it). */
const READY_ITEM: LocalItem = { after: 0, abortable: false, sync: true, render: readyForQuery };
