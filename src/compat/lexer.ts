/**
 * Byte-level pieces of PostgreSQL's SQL scanner (src/backend/parser/scan.l), enough to find where quoted
 * strings, quoted identifiers, dollar quotes and comments end. Works on the client's bytes (UTF-8 or any other
 * ASCII-safe encoding), so offsets are byte offsets and slices can be re-sent unchanged. Every function runs
 * in time linear in the bytes it passes over. No I/O.
 */

/** Byte values the scanner cares about. */
export const Byte = {
  quote: 0x27, dquote: 0x22, dollar: 0x24, backslash: 0x5c, dash: 0x2d, slash: 0x2f, star: 0x2a,
  semicolon: 0x3b, lparen: 0x28, rparen: 0x29, comma: 0x2c, dot: 0x2e, equals: 0x3d, ampersand: 0x26,
  plus: 0x2b, newline: 0x0a, carriageReturn: 0x0d,
} as const;

/** scan.l `ident_start`: ASCII letters, underscore and every byte ≥ 0x80 (multibyte characters). */
export function isIdentStart(b: number | undefined): boolean {
  return b !== undefined && ((b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || b === 0x5f || b >= 0x80);
}

/** scan.l `dolq_cont`: an identifier character other than `$` (dollar-quote tags cannot hold `$`). */
function isDolqCont(b: number | undefined): boolean {
  return isIdentStart(b) || isDigit(b);
}

/** scan.l `ident_cont`: `$` continues an unquoted identifier, so `a$b$` is one name, not a dollar quote. */
export function isIdentCont(b: number | undefined): boolean {
  return isDolqCont(b) || b === Byte.dollar;
}

/** An ASCII digit. */
export function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x39;
}

/** scan.l `space` (PostgreSQL 16 added \v; treating it as space everywhere is harmless for splitting). */
export function isSpace(b: number | undefined): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x0c || b === 0x0b;
}

/**
 * Index just past the closing quote of a string whose content starts at `i`, or -1 if it never closes.
 * `''` is a quote inside any string; with `backslashEscapes` (E'…', or every '…' when
 * standard_conforming_strings is off) a backslash also escapes the byte after it.
 */
export function skipString(sql: Buffer, i: number, backslashEscapes: boolean): number {
  const n = sql.length;
  while (i < n) {
    const b = sql[i]!;
    if (b === Byte.quote) {
      if (sql[i + 1] !== Byte.quote) return i + 1;
      i += 2;
    } else if (b === Byte.backslash && backslashEscapes) {
      i += 2;
    } else {
      i++;
    }
  }
  return -1;
}

/** Index just past the closing `"` of a quoted identifier whose content starts at `i` (`""` escapes), or -1. */
export function skipQuotedIdentifier(sql: Buffer, i: number): number {
  for (;;) {
    const close = sql.indexOf(Byte.dquote, i);
    if (close < 0) return -1;
    if (sql[close + 1] !== Byte.dquote) return close + 1;
    i = close + 2;
  }
}

/** Index of the line end (or input end) of a `--` comment whose content starts at `i`. */
export function skipLineComment(sql: Buffer, i: number): number {
  const n = sql.length;
  while (i < n && sql[i] !== Byte.newline && sql[i] !== Byte.carriageReturn) i++;
  return i;
}

/**
 * Index just past the end of a block comment whose content starts at `i` (after its `/*`), or -1. Block
 * comments nest in PostgreSQL (scan.l's xcdepth), so `/* a /* b *\/ c *\/` is one comment; a counter keeps
 * any depth linear.
 */
export function skipBlockComment(sql: Buffer, i: number): number {
  const n = sql.length;
  let depth = 1;
  while (i < n) {
    const b = sql[i]!;
    if (b === Byte.slash && sql[i + 1] === Byte.star) {
      depth++;
      i += 2;
    } else if (b === Byte.star && sql[i + 1] === Byte.slash) {
      i += 2;
      if (--depth === 0) return i;
    } else {
      i++;
    }
  }
  return -1;
}

/**
 * When a dollar-quote delimiter (scan.l `dolqdelim`: `$`, an optional tag that starts like an identifier and
 * holds no `$`, `$`) starts at `i`, the index just past it; otherwise -1. `$1` is a parameter, not a tag.
 */
export function dollarDelimiterEnd(sql: Buffer, i: number): number {
  const next = sql[i + 1];
  if (next === Byte.dollar) return i + 2;
  if (!isIdentStart(next)) return -1;
  let j = i + 2;
  while (isDolqCont(sql[j])) j++;
  return sql[j] === Byte.dollar ? j + 1 : -1;
}

/**
 * Index just past the delimiter closing a dollar-quoted body that starts at `i`, opened by the delimiter at
 * `sql[open, openEnd)`; -1 if it never closes. Each `$` is tried as scan.l does: a delimiter that is not the
 * opening one gives back its last `$`, which may start the real one; every byte is looked at a bounded number
 * of times, so a huge tag cannot make this quadratic.
 */
export function skipDollarBody(sql: Buffer, i: number, open: number, openEnd: number): number {
  const length = openEnd - open;
  for (;;) {
    const at = sql.indexOf(Byte.dollar, i);
    if (at < 0) return -1;
    const end = dollarDelimiterEnd(sql, at);
    if (end < 0) {
      i = at + 1;
    } else if (end - at === length && sql.compare(sql, open, openEnd, at, end) === 0) {
      return end;
    } else {
      i = end - 1;
    }
  }
}

/** True when `sql[start, end)` is `word` (given in lower case), compared case-insensitively in ASCII. */
export function isWord(sql: Buffer, start: number, end: number, word: string): boolean {
  if (end - start !== word.length) return false;
  for (let k = 0; k < word.length; k++) {
    const b = sql[start + k]!;
    const lower = b >= 0x41 && b <= 0x5a ? b + 0x20 : b;
    if (lower !== word.charCodeAt(k)) return false;
  }
  return true;
}

/** PostgreSQL's downcase_identifier: ASCII letters only, multibyte characters untouched. */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}
