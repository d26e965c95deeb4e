import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseAuthFile } from '../../src/client/auth-file.js';
import { ScramServerExchange, type ScramVerifier } from '../../src/client/scram.js';
import { clientEnv, runTool, type ToolResult } from '../support/harness.js';
import { ScramTestClient } from '../client/scram-client.js';

const passwd = (args: string[], input: string | Buffer): Promise<ToolResult> =>
  runTool(process.execPath, ['bin/dsql-proxy.js', 'passwd', ...args], { input: input as string });

/** Whether `password` passes a whole SCRAM exchange against `verifier`. */
function authenticates(verifier: ScramVerifier, password: string | Buffer): boolean {
  const server = new ScramServerExchange({ user: 'x', verifier, mockSecret: randomBytes(32), channelBinding: undefined });
  const client = new ScramTestClient(password);
  const result = server.clientFinal(client.final(server.serverFirst('SCRAM-SHA-256', client.first())));
  return result.ok && client.verifies(result.serverFinal);
}

/** The single role of the printed auth-file line. */
function printedRole(stdout: string): [string, ScramVerifier] {
  expect(stdout.split('\n')).toHaveLength(2);
  const roles = parseAuthFile(stdout);
  expect(roles.size).toBe(1);
  return [...roles][0]!;
}

/** Runs passwd on a pseudo-terminal (util-linux script), typing each answer once its prompt has shown. */
function passwdOnTerminal(role: string, answers: string[]): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', `${process.execPath} bin/dsql-proxy.js passwd ${role}`, '/dev/null'], { env: clientEnv() });
    let output = '';
    let prompts = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const seen = (output.match(/Password for [^:]+: |Enter it again: /g) ?? []).length;
      for (; prompts < seen && prompts < answers.length; prompts++) child.stdin.write(answers[prompts]);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('close', (status) => { clearTimeout(timer); child.stdin.destroy(); resolve({ status, output }); });
  });
}

describe('dsql-proxy passwd', () => {
  it('prints one auth-file line for the password on stdin, whose verifier authenticates that password only', async () => {
    const result = await passwd(['app_reader'], 'correct horse\n');
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^"app_reader" "SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}"\n$/);
    expect(result.stdout).not.toContain('correct horse');
    const [role, verifier] = printedRole(result.stdout);
    expect(role).toBe('app_reader');
    expect(authenticates(verifier, 'correct horse')).toBe(true);
    expect(authenticates(verifier, 'correct horse ')).toBe(false);
  });

  it('takes only the first line of stdin, without its \\r\\n, and keeps non-UTF-8 bytes as they are', async () => {
    const [, verifier] = printedRole((await passwd(['app'], 'first\r\nsecond\n')).stdout);
    expect(authenticates(verifier, 'first')).toBe(true);
    const [, unterminated] = printedRole((await passwd(['app'], 'no newline at all')).stdout);
    expect(authenticates(unterminated, 'no newline at all')).toBe(true);
    const latin1 = Buffer.from('caf\xe9\n', 'latin1');
    const [, raw] = printedRole((await passwd(['app'], latin1)).stdout);
    expect(authenticates(raw, latin1.subarray(0, 4))).toBe(true);
  });

  it('doubles double quotes in the role and honours --iterations', async () => {
    const result = await passwd(['say "hi"', '--iterations', '10000'], 'pw\n');
    expect(result.stdout.startsWith('"say ""hi""" "SCRAM-SHA-256$10000:')).toBe(true);
    const [role, verifier] = printedRole(result.stdout);
    expect(role).toBe('say "hi"');
    expect(verifier.iterations).toBe(10000);
    expect(authenticates(verifier, 'pw')).toBe(true);
  });

  it('exits 2 and prints nothing on stdout without a usable password, role or iteration count', async () => {
    const cases: [string[], string, RegExp][] = [
      [['app'], '', /no password: give it as the first line of stdin/],
      [['app'], '\nsecond line\n', /no password/],
      [['app'], 'a\0b\n', /zero byte/],
      [['app', '--iterations', '0'], 'pw\n', /--iterations: "0" is not a whole number/],
      [['app', '--iterations', 'many'], 'pw\n', /--iterations: "many"/],
      [[''], 'pw\n', /ROLE: must not be empty/],
      [['r'.repeat(64)], 'pw\n', /longer than 63 bytes/],
      [[], 'pw\n', /Not enough non-option arguments/],
    ];
    for (const [args, input, message] of cases) {
      const result = await passwd(args, input);
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stdout).toBe('');
    }
  });

  it('on a terminal asks twice without echoing and prints the line', async () => {
    const { status, output } = await passwdOnTerminal('alice', ['s3cret-pw\r', 's3cret-pw\r']);
    expect(status, output).toBe(0);
    expect(output).toContain('Password for alice: ');
    expect(output).toContain('Enter it again: ');
    expect(output).not.toContain('s3cret');
    const line = /"alice" "[^"]+"/.exec(output)![0];
    expect(authenticates(parseAuthFile(line).get('alice')!, 's3cret-pw')).toBe(true);
  });

  it('on a terminal refuses two different passwords with exit 2 and prints no line', async () => {
    const { status, output } = await passwdOnTerminal('alice', ['one-pw\r', 'two-pw\r']);
    expect(status).toBe(2);
    expect(output).toContain('the passwords do not match; nothing printed');
    expect(output).not.toContain('SCRAM-SHA-256');
    expect(output).not.toContain('-pw');
  });
});
