import { asciiLower } from './lexer.js';
import { TokenReader, type Token } from './tokens.js';

/** `SET`/`RESET` of a session parameter. */
export interface SetStatement {
  readonly kind: 'set';
  /** Lower-case parameter name: TIME ZONE → timezone, SCHEMA → search_path, NAMES → client_encoding, ROLE → role. */
  readonly name: string;
  /** SET LOCAL (or SET LOCAL ROLE …). */
  readonly local: boolean;
  /** RESET (including RESET ALL, named `all`). */
  readonly reset: boolean;
  /** The value's source text after TO/= (or after the keyword of the special forms); '' for RESET. May be secret. */
  readonly value: string;
}

/** `SELECT set_config('name', 'value', is_local)` with literal arguments (pgAdmin's form included). */
export interface SetConfigStatement {
  readonly kind: 'set_config';
  /** Lower-case parameter name. */
  readonly name: string;
  /** The new value as written (set_config returns it; see answers.ts). May be secret. */
  readonly value: string;
  readonly isLocal: boolean;
  /** The result column's name: `set_config`, or the alias as PostgreSQL folds and truncates it. */
  readonly column: string;
}

/** `SELECT pg_backend_pid()`, optionally `AS alias`. */
export interface BackendPidStatement {
  readonly kind: 'backend_pid';
  /** The result column's name: `pg_backend_pid`, or the alias. */
  readonly column: string;
}

/** A statement the proxy may answer itself (see answerLocally). */
export type LocalStatement = SetStatement | SetConfigStatement | BackendPidStatement;

/** What the compat layer recognised in one statement; `other` is everything it leaves to the server. */
export type Classification = LocalStatement | { readonly kind: 'other' };

const OTHER = { kind: 'other' } as const;
/** More tokens than any recognised form has: the statement is something else. */
const MAX_TOKENS = 64;
/** PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes. */
const MAX_IDENTIFIER_BYTES = 63;

/**
 * Classifies one statement (the `body` of a split statement, or a Parse message's query), reading only its
 * first tokens. Anything it cannot read with certainty (parameters, casts, expressions, escapes, an unclosed
 * quote) is `other`, so it goes to the server, which has the last word.
 */
export function classify(statement: Buffer | string): Classification {
  const sql = typeof statement === 'string' ? Buffer.from(statement, 'utf8') : statement;
  const tokens = new TokenReader(sql).rest(MAX_TOKENS);
  if (tokens.length > MAX_TOKENS) return OTHER;
  const head = tokens[0];
  if (head?.kind !== 'word') return OTHER;
  if (head.value === 'set') return classifySet(sql, tokens);
  if (head.value === 'reset') return classifyReset(tokens);
  if (head.value === 'select') return classifySelect(tokens);
  return OTHER;
}

/**
 * A cheap first look at a whole Query or Parse text: false when no statement in it can be one the layer
 * answers, because every SET, RESET and set_config contains "set" and pg_backend_pid contains "pid" (ASCII,
 * any case). Lets ordinary queries skip splitting and classifying altogether. Reads `text[start, end)`. Also false for a text the layer
 * cannot read the way the server does (see readsAsServerDoes): it then goes to the server untouched.
 */
export function mayBeAnsweredLocally(text: Buffer, start = 0, end = text.length): boolean {
  const n = end - 2;
  for (let i = start; i < n; i++) {
    const a = text[i]! | 0x20;
    if (a !== 0x73 && a !== 0x70) continue; // s, p
    const b = text[i + 1]! | 0x20;
    const c = text[i + 2]! | 0x20;
    if ((a === 0x73 && b === 0x65 && c === 0x74) || (a === 0x70 && b === 0x69 && c === 0x64)) {
      return readsAsServerDoes(start === 0 && end === text.length ? text : text.subarray(start, end));
    }
  }
  return false;
}

/**
 * False when the layer's byte-wise reading may differ from the server's, so taking statements out could change
 * what the others say. A NUL: PostgreSQL refuses a Query whose text holds one (08P01, nothing runs), while a
 * rebuilt Query would run what precedes it. A `\` or `;` right after a byte >= 0x80: in the client-only
 * encodings (SJIS, BIG5, GBK, GB18030, JOHAB; PostgreSQL docs "Character Set Support") a multibyte character may
 * end in that byte, which the server reads as part of the character and a byte-wise reading as an escape in
 * E'…' (or, in JOHAB, a `;`), so `E'ソ''; SET x=1;'` is one string to the server and three statements to the
 * splitter. In UTF-8 those bytes follow a multibyte character only by chance; such a text merely goes unexamined.
 */
function readsAsServerDoes(text: Buffer): boolean {
  if (text.includes(0)) return false;
  for (let i = text.indexOf(0x5c); i > 0; i = text.indexOf(0x5c, i + 1)) if (text[i - 1]! >= 0x80) return false;
  for (let i = text.indexOf(0x3b); i > 0; i = text.indexOf(0x3b, i + 1)) if (text[i - 1]! >= 0x80) return false;
  return true;
}

const isWord = (t: Token | undefined, word: string): boolean => t?.kind === 'word' && t.value === word;
const isSymbol = (t: Token | undefined, symbol: string): boolean => t?.kind === 'symbol' && t.value === symbol;

/** Reads `var_name` (gram.y: ColId ['.' ColId]…) from `tokens[at]`; returns the lower-cased name and the next index. */
function varName(tokens: Token[], at: number): { name: string; next: number } | undefined {
  const parts: string[] = [];
  for (;;) {
    const t = tokens[at];
    if (t?.kind !== 'word' && t?.kind !== 'ident') return undefined;
    // GUC names are matched case-insensitively even when quoted (guc.c guc_name_compare).
    parts.push(asciiLower(t.value));
    at++;
    if (!isSymbol(tokens[at], '.')) return { name: parts.join('.'), next: at };
    at++;
  }
}

/** The source text of tokens[from…]; '' when there are none. */
function textOf(sql: Buffer, tokens: Token[], from: number): string {
  const first = tokens[from];
  return first ? sql.toString('utf8', first.start, tokens[tokens.length - 1]!.end) : '';
}

/** gram.y `var_list`: values (`opt_boolean_or_string` or `NumericOnly`) separated by commas; or DEFAULT alone. */
function isValueList(tokens: Token[], from: number): boolean {
  if (from === tokens.length - 1 && isWord(tokens[from], 'default')) return true;
  let at = from;
  for (;;) {
    if (isSymbol(tokens[at], '+') || isSymbol(tokens[at], '-')) {
      if (tokens[at + 1]?.kind !== 'number') return false;
      at++;
    }
    const kind = tokens[at]?.kind;
    if (kind !== 'word' && kind !== 'ident' && kind !== 'string' && kind !== 'number') return false;
    at++;
    if (at === tokens.length) return true;
    if (!isSymbol(tokens[at], ',')) return false;
    at++;
  }
}

/** gram.y `VariableSetStmt`: SET [SESSION | LOCAL] set_rest. */
function classifySet(sql: Buffer, tokens: Token[]): Classification {
  let at = 1;
  let local = false;
  if (isWord(tokens[at], 'local')) { local = true; at++; }
  else if (isWord(tokens[at], 'session') && !isWord(tokens[at + 1], 'authorization') && !isWord(tokens[at + 1], 'characteristics')) at++;
  const t = tokens[at];
  const special = (name: string, skip: number, valueRequired = true): Classification => {
    const value = textOf(sql, tokens, at + skip);
    return valueRequired && !value ? OTHER : { kind: 'set', name, local, reset: false, value };
  };
  if (isWord(t, 'time') && isWord(tokens[at + 1], 'zone')) return special('timezone', 2);
  if (isWord(t, 'schema')) return special('search_path', 1);
  if (isWord(t, 'names')) return special('client_encoding', 1, false);
  if (isWord(t, 'role')) return tokens.length === at + 2 ? special('role', 1) : OTHER;
  if (isWord(t, 'session') && isWord(tokens[at + 1], 'authorization')) return special('session_authorization', 2);
  if (isWord(t, 'xml') && isWord(tokens[at + 1], 'option')) return special('xmloption', 2);
  // SET TRANSACTION …, SET SESSION CHARACTERISTICS …, SET CONSTRAINTS …, SET CATALOG …: not parameters.
  if (['transaction', 'session', 'constraints', 'catalog'].some((w) => isWord(t, w))) return OTHER;
  const name = varName(tokens, at);
  if (!name) return OTHER;
  at = name.next;
  if (isWord(tokens[at], 'from') && isWord(tokens[at + 1], 'current') && tokens.length === at + 2) {
    return { kind: 'set', name: name.name, local, reset: false, value: textOf(sql, tokens, at) };
  }
  if (!isWord(tokens[at], 'to') && !isSymbol(tokens[at], '=')) return OTHER;
  at++;
  if (!isValueList(tokens, at)) return OTHER;
  return { kind: 'set', name: name.name, local, reset: false, value: textOf(sql, tokens, at) };
}

/** gram.y `VariableResetStmt`: RESET name | ALL | TIME ZONE | TRANSACTION ISOLATION LEVEL | SESSION AUTHORIZATION. */
function classifyReset(tokens: Token[]): Classification {
  const reset = (name: string, length: number): Classification =>
    tokens.length === length ? { kind: 'set', name, local: false, reset: true, value: '' } : OTHER;
  const t = tokens[1];
  if (isWord(t, 'all')) return reset('all', 2);
  if (isWord(t, 'time') && isWord(tokens[2], 'zone')) return reset('timezone', 3);
  if (isWord(t, 'session') && isWord(tokens[2], 'authorization')) return reset('session_authorization', 3);
  if (isWord(t, 'transaction')) {
    return isWord(tokens[2], 'isolation') && isWord(tokens[3], 'level') ? reset('transaction_isolation', 4) : OTHER;
  }
  const name = varName(tokens, 1);
  return name ? reset(name.name, name.next) : OTHER;
}

/** Index after `[pg_catalog.]name(` at `tokens[at]`, or -1. A quoted name must match exactly. */
function functionCall(tokens: Token[], at: number, name: string): number {
  const matches = (t: Token | undefined, word: string): boolean =>
    (t?.kind === 'word' || t?.kind === 'ident') && t.value === word;
  if (matches(tokens[at], 'pg_catalog') && isSymbol(tokens[at + 1], '.')) at += 2;
  return matches(tokens[at], name) && isSymbol(tokens[at + 1], '(') ? at + 2 : -1;
}

/** The column name of `[AS alias]` at `tokens[at]` (or `fallback`) and the index after it; undefined if malformed. */
function columnAlias(tokens: Token[], at: number, fallback: string): { column: string; next: number } | undefined {
  if (!isWord(tokens[at], 'as')) return { column: fallback, next: at };
  const alias = tokens[at + 1];
  if (alias?.kind !== 'word' && alias?.kind !== 'ident') return undefined;
  return { column: truncateIdentifier(alias.value), next: at + 2 };
}

/** PostgreSQL's truncate_identifier: at most 63 bytes, cut on a character boundary. */
function truncateIdentifier(name: string): string {
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length <= MAX_IDENTIFIER_BYTES) return name;
  let end = MAX_IDENTIFIER_BYTES;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.toString('utf8', 0, end);
}

/** `SELECT set_config(…)` and `SELECT pg_backend_pid()`, nothing else in the statement. */
function classifySelect(tokens: Token[]): Classification {
  const pid = functionCall(tokens, 1, 'pg_backend_pid');
  if (pid > 0) {
    if (!isSymbol(tokens[pid], ')')) return OTHER;
    const alias = columnAlias(tokens, pid + 1, 'pg_backend_pid');
    return alias && alias.next === tokens.length ? { kind: 'backend_pid', column: alias.column } : OTHER;
  }
  const at = functionCall(tokens, 1, 'set_config');
  if (at < 0) return OTHER;
  const [name, c1, value, c2, local, close] = tokens.slice(at, at + 6);
  if (name?.kind !== 'string' || value?.kind !== 'string' || !isSymbol(c1, ',') || !isSymbol(c2, ',') || !isSymbol(close, ')')) return OTHER;
  if (!isWord(local, 'true') && !isWord(local, 'false')) return OTHER;
  if (!/^[a-z_][a-z0-9_$]*(\.[a-z_][a-z0-9_$]*)*$/i.test(name.value)) return OTHER;
  const alias = columnAlias(tokens, at + 6, 'set_config');
  if (!alias) return OTHER;
  const result = { kind: 'set_config', name: asciiLower(name.value), value: value.value, isLocal: isWord(local, 'true'), column: alias.column } as const;
  if (alias.next === tokens.length) return result;
  return isSettingsFilter(tokens, alias.next, result.name) ? result : OTHER;
}

/**
 * pgAdmin's `FROM pg_show_all_settings() WHERE name = '<the same name>'`: one row, as without the FROM. The
 * settings view names parameters in their canonical case, which is lower case for every parameter outside the
 * allowlist (DateStyle, IntervalStyle, TimeZone are on it).
 */
function isSettingsFilter(tokens: Token[], at: number, name: string): boolean {
  if (!isWord(tokens[at], 'from')) return false;
  const after = functionCall(tokens, at + 1, 'pg_show_all_settings');
  if (after < 0 || !isSymbol(tokens[after], ')')) return false;
  const [where, column, equals, literal] = tokens.slice(after + 1, after + 5);
  return isWord(where, 'where') && isWord(column, 'name') && isSymbol(equals, '=') && literal?.kind === 'string'
    && literal.value === name && tokens.length === after + 5;
}
