/**
 * The emulator's own reading of SQL text, just enough to refuse what Aurora DSQL refuses in a session: SET/RESET
 * of a parameter outside DSQL's allowlist, set_config() of one, and pg_backend_pid(). Written from the PostgreSQL
 * docs (lexical structure, SET/RESET synopses) and kept apart from the proxy's code on purpose: a bug shared by
 * the proxy and the emulator would otherwise pass every test unseen.
 */

/** One lexical token; `text` is lower-cased for bare words, decoded for strings and quoted identifiers. */
export interface Token {
  readonly kind: 'word' | 'ident' | 'string' | 'param' | 'op' | 'semi';
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

/** One statement of a Query string: its source slice and its tokens. */
export interface Statement {
  readonly start: number;
  readonly end: number;
  readonly tokens: readonly Token[];
}

/** Why DSQL refuses a statement: the ErrorResponse it answers with. */
export interface Refusal {
  readonly code: string;
  readonly message: string;
}

/** The SQLSTATE of these refusals: feature_not_supported, inferred (DSQL publishes only the message texts). */
export const NOT_SUPPORTED = '0A000';

/** DSQL's session-parameter allowlist, lower-cased (PostgreSQL compares GUC names case-insensitively). */
const ALLOWED = new Set([
  'application_name', 'client_encoding', 'datestyle', 'extra_float_digits', 'intervalstyle', 'timezone', 'search_path',
  'dsql.enable_batched_nestloop', 'disable_sync_create_index',
]);

/** Whether DSQL lets a session set `name`; `role` only transaction-locally. */
export function parameterAllowed(name: string, local: boolean): boolean {
  const lower = name.toLowerCase();
  if (lower === 'role') return local;
  return ALLOWED.has(lower) || lower.startsWith('enable_');
}

/** DSQL's refusal of a SET/RESET/set_config of `name`. */
export function settingRefusal(name: string): Refusal {
  return { code: NOT_SUPPORTED, message: `setting configuration parameter "${name}" not supported` };
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/** Thrown for an unterminated quote or comment: PostgreSQL refuses the whole string, so nothing is rewritten. */
export class LexError extends Error {}

/** Tokens of `sql`, comments and whitespace dropped (standard_conforming_strings on, as in DSQL and PostgreSQL). */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  const closing = (quote: string, from: number, backslash: boolean): [number, string] => {
    let text = '';
    for (let i = from; i < sql.length; i++) {
      const ch = sql[i]!;
      if (backslash && ch === '\\') { text += sql[i + 1] ?? ''; i++; continue; }
      if (ch === quote) {
        if (sql[i + 1] === quote) { text += quote; i++; continue; }
        return [i + 1, text];
      }
      text += ch;
    }
    throw new LexError(`unterminated ${quote}`);
  };
  while (at < sql.length) {
    const ch = sql[at]!;
    const start = at;
    if (/\s/.test(ch)) { at++; continue; }
    if (sql.startsWith('--', at)) { const nl = sql.indexOf('\n', at); at = nl < 0 ? sql.length : nl + 1; continue; }
    if (sql.startsWith('/*', at)) { at = skipBlockComment(sql, at); continue; }
    if (ch === '\'') { const [end, text] = closing('\'', at + 1, false); tokens.push({ kind: 'string', text, start, end }); at = end; continue; }
    if ((ch === 'e' || ch === 'E') && sql[at + 1] === '\'') {
      const [end, text] = closing('\'', at + 2, true);
      tokens.push({ kind: 'string', text, start, end });
      at = end;
      continue;
    }
    if (ch === '"') { const [end, text] = closing('"', at + 1, false); tokens.push({ kind: 'ident', text, start, end }); at = end; continue; }
    if (ch === '$') {
      const tag = DOLLAR_TAG.exec(sql.slice(at, at + 64))?.[0];
      if (tag) {
        const close = sql.indexOf(tag, at + tag.length);
        if (close < 0) throw new LexError('unterminated dollar-quoted string');
        tokens.push({ kind: 'string', text: sql.slice(at + tag.length, close), start, end: close + tag.length });
        at = close + tag.length;
        continue;
      }
      let end = at + 1;
      while (end < sql.length && /[0-9]/.test(sql[end]!)) end++;
      tokens.push({ kind: end > at + 1 ? 'param' : 'op', text: sql.slice(at, end), start, end });
      at = end;
      continue;
    }
    if (WORD_START.test(ch)) {
      let end = at + 1;
      while (end < sql.length && WORD_PART.test(sql[end]!)) end++;
      tokens.push({ kind: 'word', text: sql.slice(at, end).toLowerCase(), start, end });
      at = end;
      continue;
    }
    if (ch === ';') { tokens.push({ kind: 'semi', text: ';', start, end: at + 1 }); at++; continue; }
    if (ch === ':' && sql[at + 1] === ':') { tokens.push({ kind: 'op', text: '::', start, end: at + 2 }); at += 2; continue; }
    tokens.push({ kind: 'op', text: ch, start, end: at + 1 });
    at++;
  }
  return tokens;
}

/** The index after a block comment starting at `at`; PostgreSQL's block comments nest. */
function skipBlockComment(sql: string, at: number): number {
  let depth = 0;
  for (let i = at; i < sql.length; i++) {
    if (sql.startsWith('/*', i)) { depth++; i++; continue; }
    if (sql.startsWith('*/', i)) { depth--; i++; if (depth === 0) return i + 1; }
  }
  throw new LexError('unterminated /* comment');
}

/** The statements of a Query string, split on top-level `;` (empty ones dropped, as the server drops them). */
export function splitStatements(sql: string): Statement[] {
  const statements: Statement[] = [];
  let current: Token[] = [];
  const flush = (): void => {
    if (current.length > 0) statements.push({ start: current[0]!.start, end: current.at(-1)!.end, tokens: current });
    current = [];
  };
  for (const token of tokenize(sql)) {
    if (token.kind === 'semi') flush(); else current.push(token);
  }
  flush();
  return statements;
}

/** What DSQL would answer `statement` with, if it refuses it. */
export function refusalOf(statement: Statement): Refusal | undefined {
  const t = statement.tokens;
  const head = t[0]?.kind === 'word' ? t[0].text : '';
  if (head === 'set' || head === 'reset') {
    const target = head === 'set' ? setTarget(t) : resetTarget(t);
    if (target && !parameterAllowed(target.name, target.local)) return settingRefusal(target.name);
  }
  for (let i = 0; i < t.length; i++) {
    const name = t[i]!.kind === 'word' || t[i]!.kind === 'ident' ? t[i]!.text : '';
    if (t[i + 1]?.text !== '(') continue;
    if (name === 'pg_backend_pid') return { code: NOT_SUPPORTED, message: 'function pg_backend_pid not supported' };
    if (name === 'set_config') {
      const args = argumentsAt(t, i + 2);
      const literal = args[0]?.[0]?.kind === 'string' ? args[0][0].text : undefined;
      const local = args[2]?.length === 1 && args[2][0]!.text === 'true';
      if (literal !== undefined && !parameterAllowed(literal, local)) return settingRefusal(literal);
    }
  }
  return undefined;
}

/** The parameter a SET names (undefined for SET TRANSACTION, SET CONSTRAINTS, SET SESSION CHARACTERISTICS). */
function setTarget(t: readonly Token[]): { name: string; local: boolean } | undefined {
  let i = 1;
  const scope = t[i]?.kind === 'word' ? t[i]!.text : '';
  const local = scope === 'local';
  if (scope === 'local' || scope === 'session') {
    // SET SESSION AUTHORIZATION and SET SESSION CHARACTERISTICS: "session" is part of the command there.
    if (scope === 'session' && t[2]?.text === 'authorization' && t[2].kind === 'word') return { name: 'session_authorization', local };
    if (scope === 'session' && t[2]?.text === 'characteristics' && t[2].kind === 'word') return undefined;
    i++;
  }
  const first = t[i];
  if (!first) return undefined;
  const next = t[i + 1];
  const assigns = next?.text === '=' || (next?.kind === 'word' && next.text === 'to');
  if (first.kind === 'word' && !assigns) {
    const special: Record<string, string> = { schema: 'search_path', names: 'client_encoding', role: 'role' };
    if (first.text === 'time' && next?.kind === 'word' && next.text === 'zone') return { name: 'timezone', local };
    if (first.text === 'session' && next?.kind === 'word' && next.text === 'authorization') return { name: 'session_authorization', local };
    if (first.text === 'xml' && next?.kind === 'word' && next.text === 'option') return { name: 'xmloption', local };
    if (first.text === 'transaction' || first.text === 'constraints') return undefined;
    if (special[first.text]) return { name: special[first.text]!, local };
  }
  return { name: dottedName(t, i), local };
}

/** The parameter a RESET names; RESET ALL is refused as the parameter "all" (an inference: DSQL's text unknown). */
function resetTarget(t: readonly Token[]): { name: string; local: boolean } | undefined {
  const first = t[1];
  if (!first) return undefined;
  if (first.kind === 'word' && first.text === 'time' && t[2]?.text === 'zone') return { name: 'timezone', local: false };
  if (first.kind === 'word' && first.text === 'session' && t[2]?.text === 'authorization') return { name: 'session_authorization', local: false };
  return { name: dottedName(t, 1), local: false };
}

/** `a.b.c` as written (bare words lower-cased, quoted identifiers as they are). */
function dottedName(t: readonly Token[], i: number): string {
  let name = t[i]!.text;
  while (t[i + 1]?.text === '.' && t[i + 2]) { name += `.${t[i + 2]!.text}`; i += 2; }
  return name;
}

/** The top-level arguments of a call whose first argument token is at `i`, each as its tokens. */
function argumentsAt(t: readonly Token[], i: number): Token[][] {
  const args: Token[][] = [[]];
  let depth = 0;
  for (; i < t.length; i++) {
    const token = t[i]!;
    if (token.text === '(' && token.kind === 'op') depth++;
    if (token.text === ')' && token.kind === 'op' && depth-- === 0) break;
    if (token.text === ',' && token.kind === 'op' && depth === 0) { args.push([]); continue; }
    args.at(-1)!.push(token);
  }
  return args;
}
