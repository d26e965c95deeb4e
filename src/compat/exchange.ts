import { ProtocolError } from '../protocol/errors.js';
import { readyForQuery, setLocalOutsideTransactionWarning, simpleQueryAnswer } from './answers.js';
import { mayBeAnsweredLocally, type Classification, type LocalStatement } from './classify.js';
import { ClientFramer, type FrameHandler } from './client-framer.js';
import { ClientType, readBind, readExecute, readParse, readTarget } from './extended.js';
import { answerLocally, type TransactionStatus } from './policy.js';
import { LocalPrepared, type PreparedAnswer } from './prepared.js';
import { planQuery, queryMessage, soleStatement } from './query-plan.js';
import { Segment, type LocalItem } from './segment.js';
import { READY_FOR_QUERY, ServerScanner, type ServerEvents } from './server-scanner.js';

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
}

/** Queries and Parse messages up to this size are examined; DSQL itself refuses messages over 10 MiB. */
export const MAX_EXAMINED_BYTES = 1024 * 1024;

/**
 * Segments waiting for the server beyond which the client is not read (see `saturated`): each costs memory, and
 * a client sending locally answered queries behind a long one would otherwise grow the queue without bound.
 */
export const MAX_QUEUED_SEGMENTS = 256;

/**
 * Most statements of one Query the proxy answers: each held answer costs a few hundred bytes, and a 1 MiB Query of
 * `set a=1;` would otherwise hold 130 000 of them (~50 MB). A Query with more goes to the server as it is.
 */
export const MAX_LOCAL_PER_QUERY = 1000;

const ERROR_RESPONSE = 0x45; // 'E'
/** Backend messages that end one extended-protocol message's answer (Describe's ParameterDescription does not). */
const EXTENDED_COMPLETIONS = new Set([0x31, 0x32, 0x33, 0x6e, 0x54, 0x43, 0x49, 0x73]); // 1 2 3 n T C I s
/** Backend messages that end one statement of a simple Query. */
const SIMPLE_COMPLETIONS = new Set([0x43, 0x49]); // C I
/** Extended-protocol messages answered by exactly one completion message. */
const COUNTED = new Set<number>([ClientType.parse, ClientType.bind, ClientType.describe, ClientType.execute, ClientType.close]);
const STATUS: Record<number, TransactionStatus> = { 0x49: 'I', 0x54: 'T', 0x45: 'E' };


/**
 * The SQL compatibility layer of one session (no I/O): takes the client's and the server's bytes, answers
 * what DSQL refuses but clients send (see policy.ts), and sends everything else on unchanged and in order. The
 * server's stream is only scanned (headers), never held back; the client's Query and Parse messages are read
 * whole, every other message streams through.
 */
export class CompatExchange implements FrameHandler, ServerEvents {
  private readonly framer: ClientFramer;
  private readonly scanner: ServerScanner;
  /** ReadyForQuery messages the server owes for what was sent upstream, and those it has sent. */
  private readySent = 0;
  private readySeen = 0;
  private status: TransactionStatus;
  /** Segments with local answers, oldest first. */
  private readonly queue: Segment[] = [];
  /** The extended-protocol segment being read from the client, once it holds a local answer. */
  private open: Segment | undefined;
  /** Counted messages sent upstream since the last Sync while `open` is unset. */
  private remoteSinceSync = 0;
  private readonly prepared: LocalPrepared;
  /** Sends the proxy's answers to the client at once (outside a server chunk). */
  private readonly direct = (bytes: Buffer): void => this.sinks.toClient(bytes);
  private readonly maxExamined: number;
  /** The server chunk being scanned, and the start of its bytes not yet sent on. */
  private chunk: Buffer | undefined;
  private runStart = 0;
  private chunkChanged = false;

  /** An exchange writing to `sinks`. */
  constructor(private readonly sinks: ExchangeSinks, private readonly options: ExchangeOptions) {
    this.framer = new ClientFramer(this, (bytes) => sinks.toServer(bytes));
    this.scanner = new ServerScanner(this);
    this.status = options.initialStatus;
    this.maxExamined = options.maxExaminedBytes ?? MAX_EXAMINED_BYTES;
    this.prepared = new LocalPrepared(options.backendPid ?? 0);
  }

  /** Takes client bytes; true when the chunk is to be sent upstream as it is (the caller does it). */
  fromClient(chunk: Buffer): boolean {
    return this.framer.feed(chunk);
  }

  /** Takes server bytes; true when the chunk is to go to the client as it is (the caller does it). */
  fromServer(chunk: Buffer): boolean {
    this.chunk = chunk;
    this.runStart = 0;
    this.chunkChanged = false;
    this.scanner.scan(chunk);
    this.chunk = undefined;
    if (!this.chunkChanged) return true;
    if (chunk.length > this.runStart) this.sinks.toClient(chunk.subarray(this.runStart));
    return false;
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
    return this.queue.length > MAX_QUEUED_SEGMENTS;
  }

  // ---- client side (FrameHandler) ----

  /** @inheritdoc */
  wantsWhole(type: number, length: number): boolean {
    if (length >= this.maxExamined) return false;
    if (type === ClientType.query || type === ClientType.parse || type === ClientType.sync || type === ClientType.flush) return true;
    if (this.open?.dropping) return true;
    return COUNTED.has(type) && !this.prepared.empty;
  }

  /** @inheritdoc */
  passing(type: number): boolean {
    // After the proxy's own error PostgreSQL skips everything up to the Sync, a message too large to read included.
    if (this.open?.dropping) return false;
    if (type === ClientType.parse || type === ClientType.bind) this.prepared.forgetAll();
    this.countPassing(type);
    return true;
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
        case ClientType.sync: return this.sync(message);
        case ClientType.flush: return this.open && this.open.remote === 0 ? undefined : message;
        default: this.countPassing(type); return message;
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      // A malformed message goes to the server as it is: its error is the one PostgreSQL would give.
      this.countPassing(type);
      return message;
    } finally {
      if (this.queue.length > 0) this.release(this.direct);
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
    if (this.open || this.remoteSinceSync > 0) { this.remoteEndsSegment(); return message; }
    this.prepared.forgetUnnamed();
    const text = message.subarray(5, message.length - 1);
    if (message[message.length - 1] !== 0 || !mayBeAnsweredLocally(text)) { this.readySent++; return message; }
    const status = this.knownStatus();
    const plan = planQuery(text, (kind): kind is LocalStatement => this.answerable(kind, status));
    if (plan.local.length === 0 || plan.local.length > MAX_LOCAL_PER_QUERY) { this.readySent++; return message; }
    const segment = new Segment(true, this.readySent);
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
    this.readySent++;
    return queryMessage(plan.remote);
  }

  private parse(message: Buffer): Buffer | undefined {
    const fields = readParse(message);
    let statement: LocalStatement | undefined;
    if (fields.parameterTypes === 0 && mayBeAnsweredLocally(fields.query)) {
      const kind = soleStatement(fields.query);
      if (this.answerable(kind, this.knownStatus())) statement = kind;
    }
    if (statement) this.options.answered?.(statement);
    return this.extended(message, this.prepared.parse(fields.statement, statement));
  }

  /** Forwards `message` when `answer` is undefined; otherwise queues the answer and forwards nothing. */
  private extended(message: Buffer, answer: PreparedAnswer | undefined): Buffer | undefined {
    if (!answer) { this.countRemote(); return message; }
    if (!this.open) {
      this.open = new Segment(false, this.readySent);
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
    return undefined;
  }

  private sync(message: Buffer): Buffer | undefined {
    const segment = this.open;
    this.open = undefined;
    // Outside a block, a Sync commits the implicit transaction and its portals end; after remote messages the
    // status is not known here (one may have been BEGIN), so the portals are kept.
    this.prepared.synced(this.knownStatus() === 'I' && (segment ? segment.remote : this.remoteSinceSync) === 0);
    this.remoteSinceSync = 0;
    if (!segment) { this.readySent++; return message; }
    segment.closed = true;
    if (segment.remote > 0) {
      segment.serverEnds = true;
      this.readySent++;
      return message;
    }
    segment.items.push(READY_ITEM);
    return undefined;
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
    this.readySent++;
  }

  private countRemote(): void {
    if (this.open) this.open.remote++;
    else this.remoteSinceSync++;
  }

  private answerable(kind: Classification, status: TransactionStatus): kind is LocalStatement {
    if (!answerLocally(kind, status)) return false;
    return kind.kind !== 'backend_pid' || this.options.backendPid !== undefined;
  }

  /** The transaction status now, when nothing sent upstream is still unanswered; otherwise assumed not failed. */
  private knownStatus(): TransactionStatus {
    return this.readySeen === this.readySent ? this.status : 'I';
  }

  private simpleAnswer(statement: LocalStatement, status: TransactionStatus, alone: boolean): Buffer {
    const answer = simpleQueryAnswer(statement, this.options.backendPid ?? 0);
    const warn = alone && status === 'I' && statement.kind === 'set' && statement.local;
    return warn ? Buffer.concat([setLocalOutsideTransactionWarning(), answer]) : answer;
  }

  // ---- server side (ServerEvents) ----

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
        if (at > this.runStart) this.sinks.toClient(chunk.subarray(this.runStart, at));
        this.runStart = at;
      }
      this.chunkChanged = true;
      this.sinks.toClient(bytes);
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

/** A local ReadyForQuery carrying the status the segment started in (local answers do not change it). */
const READY_ITEM: LocalItem = { after: 0, abortable: false, sync: true, render: readyForQuery };
