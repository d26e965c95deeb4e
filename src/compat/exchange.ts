import { ProtocolError } from '../protocol/errors.js';
import { errorResponse } from '../protocol/messages.js';
import { MessageWriter } from '../protocol/writer.js';
import {
  bindComplete, closeComplete, localAnswer, noData, parameterDescription, parseComplete, readyForQuery, setLocalOutsideTransactionWarning,
  simpleQueryAnswer, type FormatCode,
} from './answers.js';
import { classify, mayBeAnsweredLocally, type LocalStatement } from './classify.js';
import { ClientFramer, type FrameHandler } from './client-framer.js';
import { ClientType, readBind, readExecutePortal, readParse, readTarget } from './extended.js';
import { answerLocally, type TransactionStatus } from './policy.js';
import { Segment, type LocalItem } from './segment.js';
import { READY_FOR_QUERY, ServerScanner, type ServerEvents } from './server-scanner.js';
import { splitStatements } from './split.js';

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

const ERROR_RESPONSE = 0x45; // 'E'
/** Backend messages that end one extended-protocol message's answer (Describe's ParameterDescription does not). */
const EXTENDED_COMPLETIONS = new Set([0x31, 0x32, 0x33, 0x6e, 0x54, 0x43, 0x49, 0x73]); // 1 2 3 n T C I s
/** Backend messages that end one statement of a simple Query. */
const SIMPLE_COMPLETIONS = new Set([0x43, 0x49]); // C I
/** Extended-protocol messages answered by exactly one completion message. */
const COUNTED = new Set<number>([ClientType.parse, ClientType.bind, ClientType.describe, ClientType.execute, ClientType.close]);
const STATUS: Record<number, TransactionStatus> = { 0x49: 'I', 0x54: 'T', 0x45: 'E' };

interface LocalPortal { readonly statement: LocalStatement; readonly format: FormatCode }

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
  private readonly statements = new Map<string, LocalStatement>();
  private readonly portals = new Map<string, LocalPortal>();
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

  // ---- client side (FrameHandler) ----

  /** @inheritdoc */
  wantsWhole(type: number, length: number): boolean {
    if (length >= this.maxExamined) return false;
    if (type === ClientType.query || type === ClientType.parse || type === ClientType.sync || type === ClientType.flush) return true;
    if (this.open?.dropping) return true;
    return COUNTED.has(type) && (this.statements.size > 0 || this.portals.size > 0);
  }

  /** @inheritdoc */
  passing(type: number): void {
    // A Parse or Bind too large to read may reuse a local statement's or portal's name: forget them all, so a
    // later message naming one goes to the server (which reports it missing) instead of being answered wrongly.
    if (type === ClientType.parse) this.statements.clear();
    if (type === ClientType.bind) this.portals.clear();
    if (COUNTED.has(type)) this.countRemote();
    else if (type === ClientType.query || type === ClientType.functionCall) this.remoteEndsSegment();
  }

  /** @inheritdoc */
  whole(message: Buffer): Buffer | undefined {
    const type = message[0]!;
    if (this.open?.dropping && type !== ClientType.sync) return undefined;
    try {
      switch (type) {
        case ClientType.query: return this.query(message);
        case ClientType.parse: return this.parse(message);
        case ClientType.bind: return this.bind(message);
        case ClientType.describe: return this.describe(message);
        case ClientType.execute: return this.execute(message);
        case ClientType.close: return this.close(message);
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
      this.release();
    }
  }

  /** A gathered message that goes upstream unread (malformed, or gathered only to be dropped). */
  private countPassing(type: number): void {
    if (COUNTED.has(type)) this.countRemote();
    else if (type === ClientType.query || type === ClientType.functionCall) this.remoteEndsSegment();
  }

  private query(message: Buffer): Buffer | undefined {
    if (this.open) { this.remoteEndsSegment(); return message; }
    this.forgetUnnamed();
    const text = message.subarray(5, message.length - 1);
    if (message[message.length - 1] !== 0 || !mayBeAnsweredLocally(text)) { this.readySent++; return message; }
    const status = this.knownStatus();
    const remote: Buffer[] = [];
    const local: { statement: LocalStatement; after: number }[] = [];
    let statements = 0;
    for (const statement of splitStatements(text)) {
      if (statement.empty) continue;
      statements++;
      const kind = classify(statement.body);
      if (this.answerable(kind, status)) local.push({ statement: kind, after: remote.length });
      else remote.push(statement.raw);
    }
    if (local.length === 0) { this.readySent++; return message; }
    const segment = this.enqueue(new Segment(true, this.readySent));
    const alone = statements === 1;
    for (const { statement, after } of local) {
      this.options.answered?.(statement);
      segment.items.push({ after, abortable: true, render: (at) => this.simpleAnswer(statement, at, alone) });
    }
    segment.closed = true;
    if (remote.length === 0) {
      segment.items.push(readyItem(0));
      return undefined;
    }
    segment.remote = remote.length;
    segment.serverEnds = true;
    this.readySent++;
    return queryMessage(remote);
  }

  private parse(message: Buffer): Buffer | undefined {
    const fields = readParse(message);
    const statement = fields.parameterTypes === 0 ? this.soleStatement(fields.query) : undefined;
    if (!statement) {
      this.statements.delete(fields.statement);
      this.countRemote();
      return message;
    }
    this.options.answered?.(statement);
    this.statements.set(fields.statement, statement);
    this.local({ abortable: true, render: parseComplete });
    return undefined;
  }

  private bind(message: Buffer): Buffer | undefined {
    const fields = readBind(message);
    const statement = this.statements.get(fields.statement);
    if (!statement) {
      this.portals.delete(fields.portal);
      this.countRemote();
      return message;
    }
    if (fields.parameters !== 0) {
      const error = errorResponse({ severity: 'ERROR', code: '08P01',
        message: `bind message supplies ${fields.parameters} parameters, but prepared statement "${fields.statement}" requires 0` });
      this.local({ abortable: true, error: true, render: () => error }).dropping = true;
      return undefined;
    }
    this.portals.set(fields.portal, { statement, format: fields.resultFormat });
    this.local({ abortable: true, render: bindComplete });
    return undefined;
  }

  private describe(message: Buffer): Buffer | undefined {
    const { target, name } = readTarget(message);
    const pid = this.options.backendPid ?? 0;
    if (target === 'S' && this.statements.has(name)) {
      const { description } = localAnswer(this.statements.get(name)!, { backendPid: pid });
      const bytes = Buffer.concat([parameterDescription(), description ?? noData()]);
      this.local({ abortable: description !== undefined, render: () => bytes });
      return undefined;
    }
    const portal = target === 'P' ? this.portals.get(name) : undefined;
    if (!portal) { this.countRemote(); return message; }
    const { description } = localAnswer(portal.statement, { backendPid: pid, format: portal.format });
    this.local({ abortable: description !== undefined, render: () => description ?? noData() });
    return undefined;
  }

  private execute(message: Buffer): Buffer | undefined {
    const portal = this.portals.get(readExecutePortal(message));
    if (!portal) { this.countRemote(); return message; }
    const { execution } = localAnswer(portal.statement, { backendPid: this.options.backendPid ?? 0, format: portal.format });
    const bytes = Buffer.concat(execution);
    this.local({ abortable: true, render: () => bytes });
    return undefined;
  }

  private close(message: Buffer): Buffer | undefined {
    const { target, name } = readTarget(message);
    const known = target === 'S' ? this.statements.delete(name) : this.portals.delete(name);
    if (!known) { this.countRemote(); return message; }
    this.local({ abortable: false, render: closeComplete });
    return undefined;
  }

  private sync(message: Buffer): Buffer | undefined {
    const segment = this.open;
    this.open = undefined;
    this.remoteSinceSync = 0;
    this.portals.delete(''); // the unnamed portal ends with the implicit transaction a Sync closes
    if (!segment) { this.readySent++; return message; }
    segment.closed = true;
    if (segment.remote > 0) {
      segment.serverEnds = true;
      this.readySent++;
      return message;
    }
    segment.items.push(readyItem(0));
    return undefined;
  }

  /** A Query or FunctionCall that goes upstream as it is: it ends the open segment, and a ReadyForQuery is due. */
  private remoteEndsSegment(): void {
    this.forgetUnnamed();
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

  /** Queues a local answer of the extended protocol in the open segment (opened here if needed). */
  private local(item: Omit<LocalItem, 'after'>): Segment {
    if (!this.open) {
      this.open = this.enqueue(new Segment(false, this.readySent));
      this.open.remote = this.remoteSinceSync;
    }
    this.open.items.push({ ...item, after: this.open.remote });
    return this.open;
  }

  private enqueue(segment: Segment): Segment {
    this.queue.push(segment);
    return segment;
  }

  /** A simple Query's unnamed statement and portal do not outlive it (postgres.c exec_simple_query). */
  private forgetUnnamed(): void {
    this.statements.delete('');
    this.portals.delete('');
  }

  /** The one statement of a Parse message, when the layer answers it. */
  private soleStatement(query: Buffer): LocalStatement | undefined {
    if (!mayBeAnsweredLocally(query)) return undefined;
    const statements = splitStatements(query).filter((statement) => !statement.empty);
    if (statements.length !== 1) return undefined;
    const kind = classify(statements[0]!.body);
    return this.answerable(kind, this.knownStatus()) ? kind : undefined;
  }

  private answerable(kind: ReturnType<typeof classify>, status: TransactionStatus): kind is LocalStatement {
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
    if (!head || this.readySeen !== head.startZ || !head.serverEnds) return;
    // The segment's own ReadyForQuery: anything still queued (not dropped) goes before it.
    head.end(this.status, this.injectAt(at));
  }

  /** @inheritdoc */
  messageEnds(type: number, at: number, status: number): void {
    const head = this.queue[0];
    if (type === READY_FOR_QUERY) {
      if (head && this.readySeen === head.startZ && head.serverEnds) this.queue.shift();
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
  private release(send: (bytes: Buffer) => void = (bytes) => this.sinks.toClient(bytes)): void {
    for (let head = this.queue[0]; head && this.readySeen === head.startZ; head = this.queue[0]) {
      head.release(this.status, send);
      if (!head.finished) return;
      this.queue.shift();
    }
  }
}

/** A local ReadyForQuery carrying the status the segment started in (local answers do not change it). */
function readyItem(after: number): LocalItem {
  return { after, abortable: false, sync: true, render: readyForQuery };
}

/** A Query message holding `statements` joined by `;` (each keeps its own text, comments included). */
function queryMessage(statements: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  statements.forEach((statement, i) => { if (i > 0) parts.push(SEMICOLON); parts.push(statement); });
  return new MessageWriter(ClientType.query).bytes(Buffer.concat(parts)).bytes(NUL).finish();
}

const SEMICOLON = Buffer.from(';');
const NUL = Buffer.from([0]);
