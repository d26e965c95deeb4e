/**
 * The auth file: PgBouncer's userlist.txt format, one role a line, `"role" "SCRAM-SHA-256$…"`.
 *
 * What PgBouncer does (src/loader.c, load_auth_file) and what we decided:
 * - Blank lines are skipped, and so are lines whose first non-blank character is ";" (its comments). Same here.
 * - A field is quoted with double quotes; a double quote inside one is written twice. Same here.
 * - Whatever follows the second field is ignored (old pg_auth files had more columns). Same here.
 * - Any other line makes PgBouncer log "broken auth file" and silently drop that line and every one after it.
 *   We refuse the whole file instead (AuthFileError naming the line): losing roles without a word after a typo is
 *   worse than a clear error at start or on SIGHUP, when the previous file stays in force.
 * - PgBouncer takes plaintext and md5 passwords and lets a later line for the same role win; we accept only
 *   SCRAM-SHA-256 verifiers and refuse duplicate roles, so the file says one thing about each role.
 * Parsing is pure; loadAuthFile reads the file and nothing here logs (the caller warns, e.g. about an empty file).
 */
import { readFileSync } from 'node:fs';
import { parseScramVerifier, type ScramVerifier } from './scram.js';

/** The auth file cannot be used; names the file and line, never the password or verifier text. */
export class AuthFileError extends Error {
  /** 1-based line number, undefined when the file could not be read at all. */
  readonly line: number | undefined;
  /** What is wrong, without the file and line. */
  readonly detail: string;
  /** What to do about it. */
  readonly hint: string;

  constructor(detail: string, options: { line?: number | undefined; file?: string | undefined; hint: string }) {
    const where = [options.file === undefined ? '' : `auth file ${options.file}`, options.line === undefined ? '' : `line ${options.line}`]
      .filter(Boolean).join(', ');
    super(where ? `${where}: ${detail}` : detail);
    this.name = 'AuthFileError';
    this.line = options.line;
    this.detail = detail;
    this.hint = options.hint;
  }
}

const FORMAT_HINT = 'Each line must be "role" "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>"; '
  + 'make one with: dsql-proxy passwd ROLE';
// PostgreSQL's NAMEDATALEN - 1.
const MAX_ROLE_BYTES = 63;
// PostgreSQL's get_password_type: "md5" followed by 32 hex digits.
const MD5_HASH = /^md5[0-9a-f]{32}$/;

/** Reads one quoted field starting at `start` (a double quote); returns its value and the index after it. */
function quotedField(line: string, start: number): { value: string; next: number } | undefined {
  let value = '';
  let i = start + 1;
  for (;;) {
    const quote = line.indexOf('"', i);
    if (quote < 0) return undefined;
    value += line.slice(i, quote);
    if (line[quote + 1] !== '"') return { value, next: quote + 1 };
    value += '"';
    i = quote + 2;
  }
}

/** Shell-ready spelling of a role for the passwd hint. */
const commandRole = (role: string): string => (/^[A-Za-z0-9_.@-]+$/.test(role) ? role : 'ROLE');

/** Parses the file's text into verifiers by role; throws AuthFileError for the first bad line. */
export function parseAuthFile(text: string): ReadonlyMap<string, ScramVerifier> {
  const roles = new Map<string, ScramVerifier>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const number = index + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith(';')) return;
    if (!line.startsWith('"')) throw new AuthFileError('expected "role" "verifier" (comment lines start with ";")', { line: number, hint: FORMAT_HINT });
    const role = quotedField(line, 0);
    if (!role) throw new AuthFileError('the role name\'s closing double quote is missing', { line: number, hint: FORMAT_HINT });
    if (role.value === '') throw new AuthFileError('the role name is empty', { line: number, hint: FORMAT_HINT });
    // Not quoted back: a misplaced quote can put the verifier inside the "role name".
    if (Buffer.byteLength(role.value) > MAX_ROLE_BYTES) {
      throw new AuthFileError(`the role name is longer than ${MAX_ROLE_BYTES} bytes, PostgreSQL's limit`, { line: number, hint: FORMAT_HINT });
    }
    const rest = line.slice(role.next);
    const gap = /^[ \t]+"/.exec(rest);
    const where = `role "${role.value}"`;
    if (!gap) throw new AuthFileError(`${where}: expected the verifier in double quotes after the role`, { line: number, hint: FORMAT_HINT });
    const secret = quotedField(rest, gap[0].length - 1);
    if (!secret) throw new AuthFileError(`${where}: the verifier's closing double quote is missing`, { line: number, hint: FORMAT_HINT });
    if (roles.has(role.value)) throw new AuthFileError(`${where} appears more than once`, { line: number, hint: 'Keep one line per role.' });
    if (!secret.value.startsWith('SCRAM-SHA-256$')) {
      const kind = MD5_HASH.test(secret.value) ? 'an MD5 hash' : secret.value === '' ? 'empty' : 'a plaintext password';
      throw new AuthFileError(`${where}: the password is ${kind}; only SCRAM-SHA-256 verifiers are accepted; `
        + `make one with dsql-proxy passwd ${commandRole(role.value)}`, { line: number, hint: FORMAT_HINT });
    }
    try {
      roles.set(role.value, parseScramVerifier(secret.value));
    } catch (error) {
      // parseScramVerifier's messages never quote the verifier.
      throw new AuthFileError(`${where}: malformed SCRAM-SHA-256 verifier: ${(error as Error).message}`, { line: number, hint: FORMAT_HINT });
    }
  });
  return roles;
}

/** Reads and parses the auth file (synchronously: at start and on SIGHUP); every failure is an AuthFileError. */
export function loadAuthFile(path: string): ReadonlyMap<string, ScramVerifier> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory'
      : (error as Error).message;
    throw new AuthFileError(`cannot read the auth file ${path}: ${reason}`, {
      hint: 'Check the --auth-file path and that the proxy\'s user may read it; make lines with dsql-proxy passwd ROLE.',
    });
  }
  try {
    return parseAuthFile(text);
  } catch (error) {
    if (error instanceof AuthFileError) {
      throw new AuthFileError(error.detail, { file: path, line: error.line, hint: error.hint });
    }
    throw error;
  }
}
