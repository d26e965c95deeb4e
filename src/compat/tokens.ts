import {
  asciiLower, Byte, dollarDelimiterEnd, isDigit, isIdentCont, isIdentStart, isSpace, skipBlockComment,
  skipDollarBody, skipLineComment, skipQuotedIdentifier, skipString,
} from './lexer.js';

/**
 * A token of a statement's head. `word`: an unquoted identifier or keyword, `value` lower-cased as PostgreSQL
 * folds it; `ident`: a "quoted" identifier, `value` as written; `string`: a literal whose value is known
 * ('…', E'…' with only \\ and \' escapes, $$…$$), `value` decoded; `number`; `symbol`: one other byte;
 * `other`: anything the compat layer does not read (other escapes, U&, B, X literals, parameters, a quote or
 * comment that never closes).
 */
export interface Token {
  readonly kind: 'word' | 'ident' | 'string' | 'number' | 'symbol' | 'other';
  readonly value: string;
  /** Byte offsets of the token in the text read. */
  readonly start: number;
  readonly end: number;
}

/** Reads a statement's tokens one at a time, skipping whitespace and comments. */
export class TokenReader {
  private pos = 0;

  /** Reads `sql` (one statement's text) from its start. */
  constructor(private readonly sql: Buffer) {}

  /** The next token, or undefined at the end of the text. */
  next(): Token | undefined {
    const sql = this.sql;
    for (;;) {
      const i = this.pos;
      const b = sql[i];
      if (b === undefined) return undefined;
      if (isSpace(b)) { this.pos++; continue; }
      if (b === Byte.dash && sql[i + 1] === Byte.dash) { this.pos = skipLineComment(sql, i + 2); continue; }
      if (b === Byte.slash && sql[i + 1] === Byte.star) {
        const end = skipBlockComment(sql, i + 2);
        if (end < 0) return this.take('other', i, sql.length, '');
        this.pos = end;
        continue;
      }
      return this.read(b, i);
    }
  }

  /** The tokens left, up to `limit` of them (more means the statement is not one the layer reads). */
  rest(limit: number): Token[] {
    const out: Token[] = [];
    for (let t = this.next(); t && out.length <= limit; t = this.next()) out.push(t);
    return out;
  }

  private read(b: number, i: number): Token {
    const sql = this.sql;
    if (b === Byte.quote) return this.literal(i, i + 1, false);
    if ((b | 0x20) === 0x65 && sql[i + 1] === Byte.quote) return this.literal(i, i + 2, true);
    if (b === Byte.dquote) {
      const end = skipQuotedIdentifier(sql, i + 1);
      if (end < 0) return this.take('other', i, sql.length, '');
      return this.take('ident', i, end, sql.toString('utf8', i + 1, end - 1).replaceAll('""', '"'));
    }
    if (b === Byte.dollar) {
      const open = dollarDelimiterEnd(sql, i);
      if (open < 0) return this.take('other', i, i + 1, '$');
      const end = skipDollarBody(sql, open, i, open);
      if (end < 0) return this.take('other', i, sql.length, '');
      return this.take('string', i, end, sql.toString('utf8', open, end - (open - i)));
    }
    if (isIdentStart(b)) {
      const prefixed = sql[i + 1] === Byte.quote || ((b | 0x20) === 0x75 && sql[i + 1] === Byte.ampersand);
      if (prefixed) return this.take('other', i, i + 1, ''); // U&, B, X, N literals: not read here
      let j = i + 1;
      while (isIdentCont(sql[j])) j++;
      return this.take('word', i, j, asciiLower(sql.toString('utf8', i, j)));
    }
    if (isDigit(b) || (b === Byte.dot && isDigit(sql[i + 1]))) {
      let j = i + 1;
      while (isDigit(sql[j]) || sql[j] === Byte.dot) j++;
      return this.take('number', i, j, sql.toString('latin1', i, j));
    }
    return this.take('symbol', i, i + 1, String.fromCharCode(b));
  }

  /**
   * A '…' or E'…' literal whose content starts at `from`. A backslash in a '…' literal, or an E'…' escape other
   * than \\ and \', makes it `other`: its value would depend on standard_conforming_strings or on escape rules
   * this layer does not need.
   */
  private literal(i: number, from: number, escapes: boolean): Token {
    const sql = this.sql;
    const end = skipString(sql, from, escapes);
    if (end < 0) return this.take('other', i, sql.length, '');
    const content = sql.toString('utf8', from, end - 1);
    let readable = true;
    const value = content.replace(/''|\\(.)/gs, (_match: string, escaped: string | undefined) => {
      if (escaped === undefined) return "'";
      if (!escapes || (escaped !== '\\' && escaped !== "'")) readable = false;
      return escaped;
    });
    return readable ? this.take('string', i, end, value) : this.take('other', i, end, '');
  }

  private take(kind: Token['kind'], start: number, end: number, value: string): Token {
    // An unreadable token ends the reading: what follows it is not reliably tokenised.
    this.pos = kind === 'other' ? this.sql.length : end;
    return { kind, value, start, end };
  }
}
