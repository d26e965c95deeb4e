import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuthFileError, loadAuthFile, parseAuthFile } from '../../src/client/auth-file.js';
import { makeScramVerifier, parseScramVerifier } from '../../src/client/scram.js';

const ALICE = makeScramVerifier('alice-password', { iterations: 16 });
const BOB = makeScramVerifier('bob-password', { iterations: 16 });

const dir = mkdtempSync(join(tmpdir(), 'dsql-proxy-auth-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function refusal(text: string): AuthFileError {
  try {
    parseAuthFile(text);
  } catch (error) {
    expect(error).toBeInstanceOf(AuthFileError);
    return error as AuthFileError;
  }
  throw new Error('expected an AuthFileError');
}

describe('the auth file (PgBouncer userlist.txt format)', () => {
  it('reads one role a line, skipping blank lines and ";" comments, ignoring the rest of a line', () => {
    const roles = parseAuthFile(`\uFEFF; made by dsql-proxy passwd\n\n  "alice" "${ALICE}"\r\n\t"bob"\t"${BOB}" "ignored" column\n   \n`);
    expect([...roles.keys()]).toEqual(['alice', 'bob']);
    expect(roles.get('alice')).toEqual(parseScramVerifier(ALICE));
    expect(roles.get('bob')).toEqual(parseScramVerifier(BOB));
  });

  it('reads a doubled double quote inside a quoted role as one quote', () => {
    expect([...parseAuthFile(`"say ""hi""" "${ALICE}"\n"a b" "${BOB}"`).keys()]).toEqual(['say "hi"', 'a b']);
  });

  it('gives an empty map for a file with no roles', () => {
    expect(parseAuthFile('').size).toBe(0);
    expect(parseAuthFile('; nobody yet\n\n').size).toBe(0);
  });

  it('refuses plaintext passwords and MD5 hashes, naming line and role, never the password', () => {
    const plain = refusal(`"alice" "${ALICE}"\n"bob" "hunter2"`);
    expect(plain.line).toBe(2);
    expect(plain.message).toBe('line 2: role "bob": the password is a plaintext password; only SCRAM-SHA-256 verifiers are accepted; '
      + 'make one with dsql-proxy passwd bob');
    const md5 = refusal('"carol" "md5d8578edf8458ce06fbc5bb76a58c5ca4"');
    expect(md5.message).toContain('line 1: role "carol": the password is an MD5 hash; only SCRAM-SHA-256 verifiers are accepted');
    expect(md5.message).not.toContain('d8578edf');
    expect(md5.hint).toContain('dsql-proxy passwd ROLE');
    expect(refusal('"dave" ""').message).toContain('the password is empty');
  });

  it('refuses a malformed verifier without quoting it', () => {
    const broken = ALICE.replace(/:([^:]+)$/, ':AAAA');
    const error = refusal(`\n"alice" "${broken}"`);
    expect(error.message).toBe('line 2: role "alice": malformed SCRAM-SHA-256 verifier: ServerKey is not 32 bytes of base64');
    expect(error.message).not.toContain(broken.slice(14, 40));
  });

  it('refuses a role listed twice', () => {
    expect(refusal(`"alice" "${ALICE}"\n"alice" "${BOB}"`).message).toBe('line 2: role "alice" appears more than once');
  });

  it('refuses lines PgBouncer would stop reading at, instead of dropping the roles after them', () => {
    expect(refusal(`# comment\n"alice" "${ALICE}"`).message).toMatch(/^line 1: expected "role" "verifier"/);
    expect(refusal(`alice "${ALICE}"`).line).toBe(1);
    expect(refusal(`"alice "${ALICE}`).message).not.toContain(ALICE.slice(14));
    expect(refusal(`"alice"`).message).toBe('line 1: role "alice": expected the verifier in double quotes after the role');
    expect(refusal(`"alice""${ALICE}"`).message).toBe('line 1: the role name is longer than 63 bytes, PostgreSQL\'s limit');
    expect(refusal(`"alice" "${ALICE}`).message).toBe('line 1: role "alice": the verifier\'s closing double quote is missing');
    expect(refusal(`"" "${ALICE}"`).message).toBe('line 1: the role name is empty');
    expect(refusal('"alice').message).toBe('line 1: the role name\'s closing double quote is missing');
    const swallowed = refusal(`"alice ${ALICE}" "x"`);
    expect(swallowed.message).toBe('line 1: the role name is longer than 63 bytes, PostgreSQL\'s limit');
    expect(parseAuthFile(`"${'r'.repeat(63)}" "${ALICE}"`).size).toBe(1);
  });

  it('loads a file from disk and names the file in its errors', () => {
    const good = join(dir, 'good.txt');
    writeFileSync(good, `"alice" "${ALICE}"\n`);
    expect(loadAuthFile(good).has('alice')).toBe(true);
    const bad = join(dir, 'bad.txt');
    writeFileSync(bad, `"alice" "${ALICE}"\n"bob" "secret-password"\n`);
    expect(() => loadAuthFile(bad)).toThrow(`auth file ${bad}, line 2: role "bob": the password is a plaintext password`);
    try { loadAuthFile(bad); } catch (error) {
      expect(error).toMatchObject({ line: 2 });
      expect((error as Error).message).not.toContain('secret-password');
    }
  });

  it('wraps read failures in an AuthFileError with a hint', () => {
    const missing = join(dir, 'missing.txt');
    expect(() => loadAuthFile(missing)).toThrow(AuthFileError);
    expect(() => loadAuthFile(missing)).toThrow(`cannot read the auth file ${missing}: no such file`);
    expect(() => loadAuthFile(dir)).toThrow('it is a directory');
    try { loadAuthFile(missing); } catch (error) {
      expect((error as AuthFileError).hint).toContain('--auth-file');
      expect((error as AuthFileError).line).toBeUndefined();
    }
    if (process.getuid?.() !== 0) {
      const unreadable = join(dir, 'unreadable.txt');
      writeFileSync(unreadable, '');
      chmodSync(unreadable, 0o000);
      expect(() => loadAuthFile(unreadable)).toThrow('permission denied');
    }
  });
});
