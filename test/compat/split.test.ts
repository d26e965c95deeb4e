import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitStatements, type SqlStatement } from '../../src/compat/split.js';
import { PostgresWire, types } from './postgres-wire.js';

const PGADMIN_BATCH = "SET DateStyle=ISO; SET client_min_messages=notice; SELECT set_config('bytea_output','hex',false) "
  + "FROM pg_show_all_settings() WHERE name = 'bytea_output'; SET client_encoding='utf-8';";

/** The bodies of the statements PostgreSQL would run (empty ones dropped). */
const bodies = (sql: string, options = {}): string[] =>
  splitStatements(sql, options).filter((s) => !s.empty).map((s) => s.body.toString('utf8'));

/** Each case: the text and the statements PostgreSQL runs from it. Every case runs as-is on PostgreSQL below. */
const CORPUS: ReadonlyArray<readonly [string, readonly string[]]> = [
  [PGADMIN_BATCH, ['SET DateStyle=ISO', 'SET client_min_messages=notice',
    "SELECT set_config('bytea_output','hex',false) FROM pg_show_all_settings() WHERE name = 'bytea_output'",
    "SET client_encoding='utf-8'"]],
  ['select 1;;select 2', ['select 1', 'select 2']],
  ["select 'a;b'; select 'it''s;'", ["select 'a;b'", "select 'it''s;'"]],
  ["select E'\\';' ; select 2", ["select E'\\';'", 'select 2']],
  ["select e'\\\\'; select 2", ["select e'\\\\'", 'select 2']],
  ["select E'a''b;c'", ["select E'a''b;c'"]],
  ["select U&'d\\0061t;' ; select 2", ["select U&'d\\0061t;'", 'select 2']],
  ['select 1 as "a;""b"; select 2', ['select 1 as "a;""b"', 'select 2']],
  ['select 1 as U&"x;"; select 2', ['select 1 as U&"x;"', 'select 2']],
  ["select $$a;b$$; select $fn$ $$ ; $x$ ; $fn$", ['select $$a;b$$', 'select $fn$ $$ ; $x$ ; $fn$']],
  ['create or replace function pg_temp.compat_f() returns int language plpgsql as $body$ begin perform 1; return 1; end $body$; select 3',
    ['create or replace function pg_temp.compat_f() returns int language plpgsql as $body$ begin perform 1; return 1; end $body$', 'select 3']],
  ['select $a$x$b$;$a$; select 2', ['select $a$x$b$;$a$', 'select 2']],
  ["select $a$ $A$; $a$", ['select $a$ $A$; $a$']],
  ['select 1 -- a comment; not a split\n; select 2', ['select 1', 'select 2']],
  ['select 1 /* a /* nested ; */ still ; comment */ ; select 2', ['select 1', 'select 2']],
  ['select 1 /*/ ; */ ; select 2', ['select 1', 'select 2']],
  ['select 1 */*x;*/ 2', ['select 1 */*x;*/ 2']],
  ['select 2 --x\r; select 3', ['select 2', 'select 3']],
  ['select length($q$;$q$) ; select 2', ['select length($q$;$q$)', 'select 2']],
  ["select 1 as a$b$c ; select 'd$b$'", ['select 1 as a$b$c', "select 'd$b$'"]],
  ["select B'01' ; select X'ff' ; select N'n;'", ["select B'01'", "select X'ff'", "select N'n;'"]],
  ["select 'a'\n';b' ; select 2", ["select 'a'\n';b'", 'select 2']],
  ['create function pg_temp.compat_atomic() returns int language sql begin atomic select 1; select case when true then 2 end; end; select 4',
    ['create function pg_temp.compat_atomic() returns int language sql begin atomic select 1; select case when true then 2 end; end', 'select 4']],
  ['begin; select 1; end; select 2', ['begin', 'select 1', 'end', 'select 2']],
  ['  /* only */ -- comments\n ; ; ', []],
  ['', []],
  [';', []],
  ['select 1;', ['select 1']],
];

describe('splitting a simple Query into statements', () => {
  it.each(CORPUS)('splits %j as PostgreSQL does', (sql, expected) => {
    expect(bodies(sql)).toEqual(expected);
  });

  it('covers the text exactly: slices and separators rebuild it byte for byte', () => {
    for (const [sql] of CORPUS) {
      const text = Buffer.from(sql);
      const statements = splitStatements(text);
      expect(statements[0]!.start).toBe(0);
      expect(statements.at(-1)!.end).toBe(text.length);
      expect(statements.at(-1)!.terminated).toBe(false);
      expect(Buffer.concat(statements.flatMap((s, i) => (i === 0 ? [s.raw] : [Buffer.from(';'), s.raw])))).toEqual(text);
      for (const s of statements) {
        expect(s.raw).toEqual(text.subarray(s.start, s.end));
        expect(s.body).toEqual(text.subarray(s.bodyStart, s.bodyEnd));
        if (s.terminated) expect(text[s.end]).toBe(0x3b);
      }
    }
  });

  it('gives byte offsets for multibyte text and keeps it unchanged', () => {
    const sql = "select 'ü;é' as \"ß\"; select 2";
    const [first, second] = splitStatements(sql);
    expect(first!.body.toString('utf8')).toBe("select 'ü;é' as \"ß\"");
    expect(second!.start).toBe(Buffer.byteLength("select 'ü;é' as \"ß\";"));
  });

  it('keeps leading and trailing comments out of the body but in the raw slice', () => {
    const [s] = splitStatements(' /* c */ SET x = 1 -- tail\n;');
    expect(s!.body.toString()).toBe('SET x = 1');
    expect(s!.raw.toString()).toBe(' /* c */ SET x = 1 -- tail\n');
    expect(s!.terminated).toBe(true);
  });

  it('marks empty statements instead of dropping them', () => {
    expect(splitStatements('select 1;;select 2').map((s) => s.empty)).toEqual([false, true, false]);
    expect(splitStatements('select 1;').map((s) => [s.empty, s.terminated])).toEqual([[false, true], [true, false]]);
  });

  it('keeps a run of empty statements as one, so a flood of ; cannot make millions of statements', () => {
    const statements = splitStatements('select 1;;; /* x */ ;\n; select 2;;');
    expect(statements.map((s) => [s.empty, s.raw.toString()])).toEqual([
      [false, 'select 1'], [true, ';; /* x */ ;\n'], [false, ' select 2'], [true, ';'],
    ]);
    expect(splitStatements(';'.repeat(1000))).toHaveLength(1);
  });

  it.each([
    ["select 'open; select 2", "select 'open; select 2"],
    ['select "open; select 2', 'select "open; select 2'],
    ['select $x$ open; select 2', 'select $x$ open; select 2'],
    ['select 1 /* open /* */ ; select 2', 'select 1 /* open /* */ ; select 2'],
    ["select E'\\'; select 2", "select E'\\'; select 2"],
  ])('runs an unterminated quote or comment to the end: %j', (sql, body) => {
    const statements = splitStatements(sql);
    expect(statements).toHaveLength(1);
    expect(statements[0]!.body.toString()).toBe(body);
    expect(statements[0]!.unterminated).toBe(true);
  });

  it('skips bit-string and hex literals whole', () => {
    expect(bodies("select B'0;1', X'f;f'; select 2")).toEqual(["select B'0;1', X'f;f'", 'select 2']);
  });

  it('does not split inside parentheses (the server sees one statement and its syntax error)', () => {
    expect(bodies('select (1; select 2); select 3')).toEqual(['select (1; select 2)', 'select 3']);
  });

  it('treats backslashes in plain literals as escapes when standard_conforming_strings is off', () => {
    expect(bodies("select '\\'; select 2'; select 3")).toEqual(["select '\\'", "select 2'; select 3"]);
    expect(bodies("select '\\'; select 2'; select 3", { standardConformingStrings: false })).toEqual(["select '\\'; select 2'", 'select 3']);
  });

  it('reads $1 as a parameter, not a dollar quote', () => {
    expect(bodies('select $1; select $2$a$;$a$')).toEqual(['select $1', 'select $2$a$;$a$']);
    expect(bodies('select $1$; select 2 $1$')).toEqual(['select $1$', 'select 2 $1$']);
  });
});

describe('splitting stays linear on large and hostile input', () => {
  const time = (sql: Buffer): { ms: number; statements: SqlStatement[] } => {
    const started = performance.now();
    const statements = splitStatements(sql);
    return { ms: performance.now() - started, statements };
  };

  it('splits 10 MB of statements in seconds, not hours', () => {
    const one = "select 'x;y', $t$;$t$, \"q\" /* c */ from t where a = 1 -- c\n;";
    const sql = Buffer.from(one.repeat(Math.ceil(10_000_000 / one.length)));
    const { ms, statements } = time(sql);
    expect(statements.filter((s) => !s.empty)).toHaveLength(Math.ceil(10_000_000 / one.length));
    expect(ms).toBeLessThan(10_000); // quadratic work on 10 MB would take hours; a shared CI core takes ~2 s
  });

  it.each([
    ['5 million nested comment openers', Buffer.from('/*'.repeat(5_000_000))],
    ['a 5 MB dollar-quote tag whose near-misses repeat', Buffer.from(`$${'a'.repeat(2_500_000)}$ ${`$${'a'.repeat(2_499_999)}b$`}`)],
    ['a million lone dollars and parameters', Buffer.from('$ $1 $a '.repeat(1_000_000))],
    ['a million unclosed E-string backslashes', Buffer.from(`E'${'\\\\'.repeat(1_000_000)}`)],
    ['ten million semicolons', Buffer.from(';'.repeat(10_000_000))],
    ['five million one-byte statements', Buffer.from('1;'.repeat(2_500_000))],
  ])('handles %s in linear time', (_name, sql) => {
    const { ms } = time(sql);
    expect(ms).toBeLessThan(10_000); // quadratic work on 10 MB would take hours; a shared CI core takes ~2 s
  });
});

describe('splitting agrees with the real PostgreSQL', () => {
  let wire: PostgresWire;
  beforeAll(async () => { wire = await PostgresWire.open(); });
  afterAll(() => wire?.close());

  it.each(CORPUS)('PostgreSQL runs as many statements as the split finds in %j', async (sql, expected) => {
    const frames = await wire.query(sql);
    const answer = types(frames).replace(/[NS]/g, '');
    expect(answer, `PostgreSQL's answer to ${sql}`).not.toContain('E');
    const completions = (answer.match(/C/g) ?? []).length;
    expect(completions).toBe(expected.length);
    expect(answer.includes('I')).toBe(expected.length === 0);
  });

  it('agrees with PostgreSQL when standard_conforming_strings is off', async () => {
    await wire.query('SET standard_conforming_strings = off');
    try {
      const sql = "select '\\'; select 2'; select 3";
      const answer = types(await wire.query(sql)).replace(/[NS]/g, '');
      expect(answer).toBe('TDCTDCZ');
      expect(bodies(sql, { standardConformingStrings: false })).toHaveLength(2);
    } finally {
      await wire.query('RESET standard_conforming_strings');
    }
  });
});
