import {
  Byte, dollarDelimiterEnd, isDigit, isIdentCont, isIdentStart, isSpace, isWord, skipBlockComment, skipDollarBody,
  skipLineComment, skipQuotedIdentifier, skipString,
} from './lexer.js';

/**
 * One statement of a simple Query, as byte offsets into the query text. The statements of one split cover the
 * text exactly: the first starts at 0, each next one right after the previous one's `;`, the last ends at the
 * text's end, so remote statements can be re-sent byte for byte (joining the raw texts with `;` gives the text). `raw` and `body` are views made on demand
 * (a hostile text of ten million `;` must not cost ten million buffers).
 */
export class SqlStatement {
  /** Builds a statement of `text`; splitStatements is the only caller. */
  constructor(
    private readonly text: Buffer,
    /** Offset of the statement's first byte (0, or just after the previous top-level `;`). */
    readonly start: number,
    /** Offset of the `;` that ends it, or the text's length for the last statement. */
    readonly end: number,
    /** True when a top-level `;` ends it. */
    readonly terminated: boolean,
    /** Offset of its first byte that is not whitespace or a comment (`end` when there is none). */
    readonly bodyStart: number,
    /** Offset just past its last byte that is not whitespace or a comment. */
    readonly bodyEnd: number,
    /** True when a quote, dollar quote or block comment opened in it never closes (it then runs to the end). */
    readonly unterminated: boolean,
  ) {}

  /** True when it holds nothing but whitespace and comments: PostgreSQL skips it (see splitStatements). */
  get empty(): boolean {
    return this.bodyStart === this.bodyEnd;
  }

  /** `text[start, end)`, sharing memory with the input. */
  get raw(): Buffer {
    return this.text.subarray(this.start, this.end);
  }

  /** `text[bodyStart, bodyEnd)`, sharing memory with the input. */
  get body(): Buffer {
    return this.text.subarray(this.bodyStart, this.bodyEnd);
  }
}

/** How the server reads string literals. */
export interface SplitOptions {
  /**
   * The server's standard_conforming_strings (its ParameterStatus). Off, a backslash escapes the next byte in
   * every '…' literal, not only in E'…'. Default on, PostgreSQL's default since 9.1.
   */
  readonly standardConformingStrings?: boolean;
}

/** psql's words for "this statement creates a function or procedure" (first letters, see BeginTracker). */
const CREATE_WORDS = ['create', 'function', 'procedure', 'or', 'replace'] as const;

/**
 * psql's heuristic (src/fe_utils/psqlscan.l, PostgreSQL 14+) for SQL-standard function bodies: in
 * `CREATE [OR REPLACE] FUNCTION|PROCEDURE … BEGIN ATOMIC …; …; END`, the `;` between BEGIN and END do not end
 * the statement. It counts BEGIN (and CASE inside one) against END at parenthesis depth 0.
 */
class BeginTracker {
  private letters = '';
  private words = 0;
  private routine = false;
  /** Open BEGIN blocks; a `;` ends the statement only at 0. */
  depth = 0;

  /** Records an unquoted word of the current statement. */
  word(sql: Buffer, start: number, end: number, parenDepth: number): void {
    if (this.words < 4) {
      const known = CREATE_WORDS.find((w) => isWord(sql, start, end, w));
      this.letters += known ? known[0] : ' ';
      this.routine = /^c(f|p|or(f|p))/.test(this.letters);
    }
    this.words++;
    if (parenDepth !== 0 || !this.routine) return;
    if (isWord(sql, start, end, 'begin')) this.depth++;
    else if (isWord(sql, start, end, 'case')) { if (this.depth > 0) this.depth++; }
    else if (isWord(sql, start, end, 'end') && this.depth > 0) this.depth--;
  }

  /** Forgets the statement that just ended. */
  reset(): void {
    this.letters = '';
    this.words = 0;
    this.routine = false;
    this.depth = 0;
  }
}

/**
 * Splits a simple Query's text (without its terminating NUL) into statements on top-level `;`, the way
 * PostgreSQL's scanner sees quotes and comments: '…' with '' escapes, E'…' with backslash escapes, U&'…',
 * B'…', X'…', "…" and U&"…" with "" escapes, $tag$…$tag$, `--` to the line end and nesting `/* *\/`. Like
 * psql, a `;` inside parentheses or a BEGIN ATOMIC body does not split (the server would reject the whole
 * message as one syntax error, or accept it as one statement).
 *
 * Empty statements (`;;`, a trailing `;`, only comments) are returned with `empty` set, a run of them as one
 * (whose raw text then holds the `;` between them), so no text yields more statements than half its length.
 * PostgreSQL's grammar drops them (gram.y `stmtmulti` keeps only non-NULL statements) and exec_simple_query answers
 * EmptyQueryResponse only when no statement at all is left, so `select 1;;select 2` gives two CommandCompletes
 * and `;` alone gives one EmptyQueryResponse. An unterminated quote or comment runs to the end of the text, in
 * one statement whose `unterminated` is set: the server reports the syntax error. Linear in the text's length.
 */
export function splitStatements(text: Buffer | string, options: SplitOptions = {}): SqlStatement[] {
  const sql = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const plainEscapes = options.standardConformingStrings === false;
  const n = sql.length;
  const out: SqlStatement[] = [];
  const begins = new BeginTracker();
  let start = 0;
  let first = -1;
  let last = 0;
  let parens = 0;
  let unterminated = false;
  let emptyFrom = -1; // start of a run of empty statements not yet emitted
  const emit = (end: number, terminated: boolean): void => {
    if (first < 0) {
      if (emptyFrom < 0) emptyFrom = start;
      if (!terminated) out.push(new SqlStatement(sql, emptyFrom, end, false, end, end, false));
    } else {
      if (emptyFrom >= 0) out.push(new SqlStatement(sql, emptyFrom, start - 1, true, start - 1, start - 1, false));
      emptyFrom = -1;
      out.push(new SqlStatement(sql, start, end, terminated, first, last, unterminated));
    }
    start = end + 1;
    first = -1;
    parens = 0;
    unterminated = false;
    begins.reset();
  };
  // Marks sql[at, end) as part of the statement's body; end -1 means "never closes": the rest is this token.
  const token = (at: number, end: number): number => {
    if (first < 0) first = at;
    if (end < 0) { unterminated = true; end = n; }
    last = end;
    return end;
  };
  let i = 0;
  while (i < n) {
    const b = sql[i]!;
    const next = sql[i + 1];
    if (isSpace(b)) {
      i++;
    } else if (b === Byte.dash && next === Byte.dash) {
      i = skipLineComment(sql, i + 2);
    } else if (b === Byte.slash && next === Byte.star) {
      const end = skipBlockComment(sql, i + 2);
      i = end < 0 ? token(i, end) : end;
    } else if (b === Byte.quote) {
      i = token(i, skipString(sql, i + 1, plainEscapes));
    } else if (b === Byte.dquote) {
      i = token(i, skipQuotedIdentifier(sql, i + 1));
    } else if (b === Byte.dollar) {
      const open = dollarDelimiterEnd(sql, i);
      if (open > 0) i = token(i, skipDollarBody(sql, open, i, open));
      else { let j = i + 1; while (isDigit(sql[j])) j++; i = token(i, j); } // `$` or a `$1` parameter
    } else if (isIdentStart(b)) {
      i = token(i, prefixedLiteralEnd(sql, i, plainEscapes) ?? wordEnd(sql, i, begins, parens));
    } else if (b === Byte.semicolon && parens === 0 && begins.depth === 0) {
      emit(i, true);
      i++;
    } else {
      if (b === Byte.lparen) parens++;
      else if (b === Byte.rparen && parens > 0) parens--;
      i = token(i, i + 1);
    }
  }
  emit(n, false);
  return out;
}

/** End of an unquoted word starting at `i` (scan.l `identifier`: `$` continues it), fed to the BEGIN tracker. */
function wordEnd(sql: Buffer, i: number, begins: BeginTracker, parens: number): number {
  let j = i + 1;
  while (isIdentCont(sql[j])) j++;
  begins.word(sql, i, j, parens);
  return j;
}

/**
 * When the word at `i` is a literal prefix (scan.l xestart `E'`, xusstart `U&'`, xuistart `U&"`, xbstart
 * `B'`, xhstart `X'`, xnstart `N'`), the end of that literal (-1 if it never closes); otherwise undefined.
 * B'…' and X'…' have no escapes; `''` inside them reads as two adjacent literals, which splits the same way.
 */
function prefixedLiteralEnd(sql: Buffer, i: number, plainEscapes: boolean): number | undefined {
  const b = sql[i]! | 0x20;
  const next = sql[i + 1];
  if (next === Byte.quote) {
    if (b === 0x65) return skipString(sql, i + 2, true); // E'
    if (b === 0x62 || b === 0x78) return skipString(sql, i + 2, false); // B' X'
    if (b === 0x6e) return skipString(sql, i + 2, plainEscapes); // N' is NATIONAL CHARACTER then a plain literal
    return undefined;
  }
  if (b === 0x75 && next === Byte.ampersand) {
    const q = sql[i + 2];
    if (q === Byte.quote) return skipString(sql, i + 3, plainEscapes);
    if (q === Byte.dquote) return skipQuotedIdentifier(sql, i + 3);
  }
  return undefined;
}
