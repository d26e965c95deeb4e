/**
 * Where JSON text first breaks the grammar of RFC 8259, as line and column (1-based): V8's JSON.parse names no position
 * for an unexpected token ("Unexpected token 's', … is not valid JSON"), and an operator editing a config file needs
 * one. Returns undefined when the text is valid.
 */
export function jsonErrorPosition(text: string): { line: number; column: number } | undefined {
  const offset = new Scanner(text).firstError();
  if (offset === undefined) return undefined;
  return lineAndColumn(text, offset);
}

/**
 * The first key that one object of valid JSON text holds twice, with its line and column: JSON.parse keeps the last
 * value without a word (RFC 8259 section 4 only says names SHOULD be unique), so an operator's second "endpoint"
 * would silently win. Keys of different objects (two listener entries) do not clash.
 */
export function jsonDuplicateKey(text: string): { key: string; line: number; column: number } | undefined {
  const scanner = new Scanner(text);
  if (scanner.firstError() !== undefined || scanner.duplicate === undefined) return undefined;
  const { key, offset } = scanner.duplicate;
  return { key, ...lineAndColumn(text, offset) };
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

/** Thrown inside the scanner at the offending offset. */
class Broken {
  constructor(readonly offset: number) {}
}

const NUMBER = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const STRING_BODY = /(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*/y;

class Scanner {
  private at = 0;
  /** The first key found twice in one object, and where it starts. */
  duplicate: { key: string; offset: number } | undefined;

  constructor(private readonly text: string) {}

  firstError(): number | undefined {
    try {
      this.value();
      this.space();
      if (this.at < this.text.length) throw new Broken(this.at);
      return undefined;
    } catch (error) {
      if (error instanceof Broken) return error.offset;
      throw error;
    }
  }

  private space(): void {
    while (/[ \t\n\r]/.test(this.text[this.at] ?? '')) this.at++;
  }

  private expect(char: string): void {
    this.space();
    if (this.text[this.at] !== char) throw new Broken(this.at);
    this.at++;
  }

  private value(): void {
    this.space();
    const char = this.text[this.at];
    if (char === '{') {
      const keys = new Set<string>();
      return this.sequence('}', () => {
        this.space();
        const offset = this.at;
        const key = this.string();
        if (keys.has(key)) this.duplicate ??= { key, offset };
        keys.add(key);
        this.expect(':');
        this.value();
      });
    }
    if (char === '[') return this.sequence(']', () => this.value());
    if (char === '"') { this.string(); return; }
    for (const word of ['true', 'false', 'null']) {
      if (this.text.startsWith(word, this.at)) { this.at += word.length; return; }
    }
    if (!this.match(NUMBER)) throw new Broken(this.at);
  }

  /** `{…}` or `[…]`: items separated by commas; the opening character is at the cursor. */
  private sequence(close: string, item: () => void): void {
    this.at++;
    this.space();
    if (this.text[this.at] === close) { this.at++; return; }
    for (;;) {
      item();
      this.space();
      if (this.text[this.at] === close) { this.at++; return; }
      this.expect(',');
    }
  }

  /** Reads a string at the cursor and returns its value. */
  private string(): string {
    this.expect('"');
    const start = this.at - 1;
    this.match(STRING_BODY);
    if (this.text[this.at] !== '"') throw new Broken(this.at);
    this.at++;
    return JSON.parse(this.text.slice(start, this.at)) as string;
  }

  private match(pattern: RegExp): boolean {
    pattern.lastIndex = this.at;
    const found = pattern.exec(this.text);
    if (!found || found[0] === '') return false;
    this.at += found[0].length;
    return true;
  }
}
