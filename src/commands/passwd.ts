import { StringDecoder } from 'node:string_decoder';
import type { ReadStream } from 'node:tty';
import type { Argv, CommandModule } from 'yargs';
import { makeScramVerifier } from '../client/scram.js';
import { ConfigError } from '../config.js';
import type { CommandRunner } from './management.js';
import { COMMAND_OPTIONS } from './options.js';
import type { Io } from './output.js';

// The CLI's usage exit code (cli.ts's EXIT_USAGE; commands sit below the CLI and cannot import it).
const EXIT_USAGE = 2;
// 128 + SIGINT, as a shell reports an interrupted command.
const EXIT_INTERRUPTED = 130;
const MAX_ITERATIONS = 2 ** 31 - 1;
// PostgreSQL's NAMEDATALEN - 1: a longer role could not log in, and the auth file refuses it.
const MAX_ROLE_BYTES = 63;
// A first line longer than this is not a password someone typed or pasted; stop reading instead of buffering forever.
const MAX_PASSWORD_BYTES = 64 * 1024;

/** The auth-file line for `role` (PgBouncer userlist.txt quoting: a double quote is doubled). */
export function authFileLine(role: string, verifier: string): string {
  return `"${role.replaceAll('"', '""')}" "${verifier}"`;
}

function parseIterations(value: unknown): number {
  const text = typeof value === 'number' || typeof value === 'string' ? String(value).trim() : '';
  const n = /^[0-9]{1,10}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_ITERATIONS)) throw new ConfigError('--iterations', `"${text}" is not a whole number from 1 to ${MAX_ITERATIONS}`);
  return n;
}

class InputRefused extends Error {
  constructor(message: string, readonly exitCode: number = EXIT_USAGE) {
    super(message);
  }
}

/** The first line of a non-terminal stdin, as bytes (a password that is not UTF-8 is hashed as it is, like PostgreSQL). */
function readFirstLine(input: NodeJS.ReadStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error?: Error): void => {
      input.off('data', onData).off('end', onEnd).off('error', settle);
      input.destroy();
      if (error) { reject(error); return; }
      const all = Buffer.concat(chunks);
      const newline = all.indexOf(0x0a);
      const line = newline < 0 ? all : all.subarray(0, newline);
      resolve(line.at(-1) === 0x0d ? line.subarray(0, -1) : line);
    };
    const onEnd = (): void => settle();
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (chunk.includes(0x0a)) settle();
      else if (size > MAX_PASSWORD_BYTES) settle(new InputRefused('the first line of stdin is longer than 64 KiB; it should hold only the password'));
    };
    input.on('data', onData).once('end', onEnd).once('error', settle);
  });
}

/**
 * Prompts on stderr for each of `prompts` and reads a line for each from the terminal with echo off (raw mode);
 * undefined when the user gave up (Ctrl-C, or Ctrl-D on an empty line). Backspace and Ctrl-U edit the line.
 */
function readHiddenLines(input: ReadStream, io: Io, prompts: readonly string[]): Promise<string[] | undefined> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    const decoder = new StringDecoder('utf8');
    let current = '';
    const finish = (result: string[] | undefined, error?: Error): void => {
      input.off('data', onData).off('error', onError);
      input.setRawMode(false);
      input.destroy();
      if (error) reject(error); else resolve(result);
    };
    const onError = (error: Error): void => finish(undefined, error);
    const onData = (chunk: Buffer): void => {
      for (const char of decoder.write(chunk)) {
        if (char === '\r' || char === '\n') {
          io.err('\n');
          lines.push(current);
          current = '';
          if (lines.length === prompts.length) { finish(lines); return; }
          io.err(prompts[lines.length]!);
        } else if (char === '\u0003' || (char === '\u0004' && current === '')) {
          io.err('\n');
          finish(undefined);
          return;
        } else if (char === '\u007f' || char === '\b') {
          current = [...current].slice(0, -1).join('');
        } else if (char === '\u0015') {
          current = '';
        } else if (char >= ' ') {
          current += char;
        }
      }
    };
    // Echo off before the prompt shows, or a quick typist's (or a script's) first characters would be echoed.
    input.setRawMode(true);
    io.err(prompts[0]!);
    input.on('data', onData).on('error', onError);
    input.resume();
  });
}

/** The password: asked twice on a terminal, else the first line of stdin; InputRefused when there is none. */
async function readPassword(role: string, io: Io): Promise<Buffer> {
  const stdin = process.stdin;
  let password: Buffer;
  if (stdin.isTTY) {
    const lines = await readHiddenLines(stdin as ReadStream, io, [`Password for ${role}: `, 'Enter it again: ']);
    if (!lines) throw new InputRefused('cancelled; nothing printed', EXIT_INTERRUPTED);
    if (lines[0] !== lines[1]) throw new InputRefused('the passwords do not match; nothing printed');
    password = Buffer.from(lines[0]!, 'utf8');
  } else {
    password = await readFirstLine(stdin);
  }
  if (password.length === 0) {
    throw new InputRefused(stdin.isTTY ? 'the password is empty' : 'no password: give it as the first line of stdin');
  }
  // libpq and PostgreSQL treat the password as a C string: it would end at a zero byte.
  if (password.includes(0)) throw new InputRefused('the password contains a zero byte');
  return password;
}

/** `passwd ROLE`: prints an auth-file line with a new SCRAM-SHA-256 verifier for ROLE. */
export function passwdCommand(runner: CommandRunner): CommandModule {
  return {
    command: 'passwd <role>',
    describe: 'print an --auth-file line for ROLE with a SCRAM-SHA-256 verifier of a password read from the terminal '
      + '(without echo, asked twice) or from the first line of stdin',
    builder: (y: Argv) => y
      .positional('role', { type: 'string', describe: 'database role the password is for' })
      .options(COMMAND_OPTIONS.passwd)
      .example('$0 passwd app_reader >> users.txt', 'asks for the password twice and appends the line')
      .example('echo "$PW" | $0 passwd app_reader', 'takes the password from stdin'),
    handler: (argv) => runner.choose(async () => {
      const role = typeof argv.role === 'string' ? argv.role : String(argv.role ?? '');
      if (role === '') throw new ConfigError('ROLE', 'must not be empty');
      if (/[\x00-\x1f\x7f]/.test(role)) throw new ConfigError('ROLE', 'must not contain control characters');
      if (Buffer.byteLength(role) > MAX_ROLE_BYTES) throw new ConfigError('ROLE', `longer than ${MAX_ROLE_BYTES} bytes, PostgreSQL's limit for role names`);
      const iterations = parseIterations(argv.iterations);
      let password: Buffer;
      try {
        password = await readPassword(role, runner.io);
      } catch (error) {
        if (!(error instanceof InputRefused)) throw error;
        runner.io.err(`dsql-proxy passwd: ${error.message}\n`);
        return error.exitCode;
      }
      runner.io.out(`${authFileLine(role, makeScramVerifier(password, { iterations }))}\n`);
      return 0;
    }),
  };
}
