import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { LexError, parameterAllowed, refusalOf, settingRefusal, splitStatements, type Refusal } from './dsql-sql.js';
import type { EmulatorFault, EmulatorRecord } from './emulator-types.js';
import { cstring, errorResponse, message, parseErrorFields, splitOptions } from './wire.js';

/**
 * The emulator's session rules, between client and PostgreSQL: DSQL's refusals of session settings, played by
 * PostgreSQL itself so that everything around them stays PostgreSQL's own. Each refused statement of a Query or
 * Parse is replaced by a DO block raising DSQL's error; PostgreSQL then runs the statements before it, stops at
 * it, aborts the implicit (or explicit) transaction, and sends the right ReadyForQuery, exactly as for any
 * execution-time error. On the way back the carrier's error loses PostgreSQL's context fields (CONTEXT, file,
 * line), so the client sees only DSQL's severity, SQLSTATE and message.
 */

/** Marks the carrier's error so that only it is rewritten on the way back. */
const MARKER = `dsql-emulator-refusal-${randomBytes(6).toString('hex')}`;
const TAG = `$e${randomBytes(6).toString('hex')}$`;

/** A statement that raises `refusal` as a PostgreSQL ERROR when executed. */
export function carrier(refusal: Refusal): string {
  const quote = (text: string): string => `'${text.replaceAll('\'', '\'\'')}'`;
  return `DO ${TAG}BEGIN RAISE EXCEPTION USING ERRCODE = ${quote(refusal.code)}, MESSAGE = ${quote(refusal.message)}, `
    + `DETAIL = ${quote(MARKER)}; END${TAG}`;
}

/** `sql` with every refused statement replaced by its carrier, and the refusals; undefined when nothing is refused. */
export function rewriteQuery(sql: string): { sql: string; refusals: Refusal[] } | undefined {
  let statements;
  try { statements = splitStatements(sql); } catch (error) {
    if (error instanceof LexError) return undefined; // PostgreSQL refuses the whole string itself
    throw error;
  }
  const refusals: Refusal[] = [];
  let out = '';
  let at = 0;
  for (const statement of statements) {
    const refusal = refusalOf(statement);
    if (!refusal) continue;
    refusals.push(refusal);
    out += sql.slice(at, statement.start) + carrier(refusal);
    at = statement.end;
  }
  return refusals.length === 0 ? undefined : { sql: out + sql.slice(at), refusals };
}

/**
 * Rewrites a session's client messages: Query ('Q') and Parse ('P') with refused statements replaced, and a Bind
 * ('B') of a statement so replaced sent without its parameter values (the carrier takes none), so that the
 * client sees DSQL's refusal at Execute rather than PostgreSQL's complaint about a parameter count.
 */
export class ClientRules {
  /** Prepared statement names ('' the unnamed one) whose text was replaced by a carrier. */
  private readonly replaced = new Set<string>();

  constructor(private readonly onRefusal: (refusal: Refusal) => void) {}

  /** The message to send on in place of `frame`. */
  rewrite(frame: Buffer): Buffer {
    const type = String.fromCharCode(frame[0]!);
    if (type === 'Q') {
      const rewritten = rewriteQuery(frame.toString('utf8', 5, frame.length - 1));
      if (!rewritten) return frame;
      rewritten.refusals.forEach(this.onRefusal);
      return message('Q', cstring(rewritten.sql));
    }
    const nameEnd = frame.indexOf(0, 5);
    const secondEnd = frame.indexOf(0, nameEnd + 1);
    if (nameEnd < 0 || secondEnd < 0) return frame; // malformed: PostgreSQL says so
    if (type === 'P') {
      const name = frame.toString('utf8', 5, nameEnd);
      const rewritten = rewriteQuery(frame.toString('utf8', nameEnd + 1, secondEnd));
      this.replaced.delete(name);
      if (!rewritten) return frame;
      this.replaced.add(name);
      rewritten.refusals.forEach(this.onRefusal);
      return message('P', frame.subarray(5, nameEnd + 1), cstring(rewritten.sql), frame.subarray(secondEnd + 1));
    }
    if (type === 'B' && this.replaced.has(frame.toString('utf8', nameEnd + 1, secondEnd))) {
      // Bind: portal, statement, then format codes, values and result formats, all dropped (Int16 zero each).
      return message('B', frame.subarray(5, secondEnd + 1), Buffer.alloc(6));
    }
    return frame;
  }
}

/** A backend message with a carrier's ErrorResponse reduced to DSQL's fields; others untouched. */
export function rewriteServerMessage(frame: Buffer): Buffer {
  if (frame[0] !== 0x45) return frame;
  const fields = parseErrorFields(frame);
  if (fields.D !== MARKER) return frame;
  return errorResponse({ severity: 'ERROR', code: fields.C ?? '', message: fields.M ?? '' });
}

/**
 * Cuts a stream into typed messages and passes each through `rewrite`, buffering only messages of `types` (the
 * ones it may rewrite): others flow through as they arrive, so a large COPY or DataRow costs no copying.
 */
export class MessageFilter {
  private header = Buffer.alloc(0);
  private remaining = 0;
  private held: Buffer[] | undefined;

  constructor(private readonly types: ReadonlySet<number>, private readonly rewrite: (frame: Buffer) => Buffer) {}

  /** The bytes to send on for `chunk`. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.remaining === 0) {
        const need = 5 - this.header.length;
        this.header = Buffer.concat([this.header, chunk.subarray(at, at + need)]);
        at += Math.min(need, chunk.length - at);
        if (this.header.length < 5) break;
        this.remaining = this.header.readInt32BE(1) - 4;
        if (this.types.has(this.header[0]!)) this.held = [this.header]; else out.push(this.header);
        this.header = Buffer.alloc(0);
      } else {
        const piece = chunk.subarray(at, at + this.remaining);
        at += piece.length;
        this.remaining -= piece.length;
        if (this.held) this.held.push(piece); else out.push(piece);
      }
      if (this.remaining === 0 && this.held) {
        out.push(this.rewrite(Buffer.concat(this.held)));
        this.held = undefined;
      }
    }
    return out;
  }
}

/** Client messages DSQL's session rules read: Query and Parse (their SQL), Bind (of a refused statement). */
const CLIENT_TYPES = new Set(['Q', 'P', 'B'].map((t) => t.charCodeAt(0)));
/** Server messages the rules may rewrite: ErrorResponse. */
const SERVER_TYPES = new Set(['E'.charCodeAt(0)]);


/**
 * Relays between the client's `tls` and PostgreSQL's `pg` through DSQL's session rules: `startup` first, then
 * `pending` (what the client sent after its password), then both ways with pipe()'s backpressure.
 */
export function relayThroughRules(
  tls: TLSSocket, pg: Socket, startup: Buffer, pending: Buffer, record: EmulatorRecord, fault: EmulatorFault | undefined,
): void {
  const rules = new ClientRules((refusal) => { (record.refusals ??= []).push(refusal.message); });
  const fromClient = new MessageFilter(CLIENT_TYPES, (frame) => rules.rewrite(frame));
  const fromServer = new MessageFilter(SERVER_TYPES, rewriteServerMessage);
  // Backpressure as pipe() would: a reader waits while the other side's buffer is full.
  const toServer = (chunk: Buffer): void => {
    for (const piece of fromClient.push(chunk)) if (!pg.write(piece)) { tls.pause(); pg.once('drain', () => tls.resume()); }
  };
  pg.write(startup);
  toServer(pending);
  tls.on('data', toServer);
  tls.resume(); // readPacket paused it during the login
  tls.once('end', () => pg.end());
  tls.once('close', () => pg.destroy());
  pg.once('close', () => tls.destroy());
  let sent = 0;
  pg.on('data', (chunk: Buffer) => {
    // One write per chunk received, so that close-mid-result drops a whole TCP chunk (mid-message) as before.
    const out = Buffer.concat(fromServer.push(chunk));
    if (fault?.kind === 'close-mid-result') {
      sent += out.length;
      if (sent >= fault.bytes) { tls.destroy(); pg.destroy(); return; }
    }
    if (!tls.write(out)) { pg.pause(); tls.once('drain', () => pg.resume()); }
  });
  pg.once('end', () => tls.end());
}

/** Startup parameters PostgreSQL clients send that are not session settings. */
const CONNECTION_PARAMETERS = new Set(['user', 'database', 'options']);

/**
 * Strict by choice: whether DSQL fails a connection whose StartupMessage sets a parameter outside its allowlist
 * is unknown, so the emulator does (FATAL, DSQL's SET message), and a proxy that lets one through fails a test.
 * `remainingOptions` is `options` without the cluster id: each `-c name=value` / `--name=value` in it is a setting.
 */
export function startupRefusal(parameters: ReadonlyArray<readonly [string, string]>, remainingOptions: string): Refusal | undefined {
  for (const [name] of parameters) {
    if (!CONNECTION_PARAMETERS.has(name) && !parameterAllowed(name, false)) return settingRefusal(name);
  }
  const words = splitOptions(remainingOptions);
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const setting = word === '-c' ? words[++i] ?? '' : word.startsWith('--') ? word.slice(2) : undefined;
    if (setting === undefined) return settingRefusal(word); // another postgres switch (-B, -e, …)
    const name = setting.split('=')[0]!.replaceAll('-', '_');
    if (!parameterAllowed(name, false)) return settingRefusal(name);
  }
  return undefined;
}
