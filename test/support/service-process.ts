import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_CREDENTIALS } from './harness.js';

/** AWS credentials of the emulator, as a child's environment carries them. */
export const CREDENTIAL_ENV = { AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey };

/** A dsql-proxy serve process with every listener up. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  /** The bound port of each listener, by listener index. */
  readonly ports: number[];
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** stderr's JSON log lines so far. */
  lines(): Record<string, unknown>[];
  /** Sends `signal` (SIGTERM by default) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The environment of a dsql-proxy child: only what `env` gives, no AWS config or instance metadata of this machine. */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '', HOME: '/nonexistent',
    AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent/config', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...env,
  };
}

/** Runs bin/dsql-proxy.js with `args` and resolves once `listeners` "dsql-proxy listening" lines were logged. */
export function spawnService(args: string[], env: Record<string, string>, listeners = 1): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['bin/dsql-proxy.js', ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = (): Record<string, unknown>[] => stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!stderr.endsWith('\n')) return;
      const listening = lines().filter((l) => l.msg === 'dsql-proxy listening');
      if (listening.length < listeners) return;
      const ports = listening.map((l) => Number(/:(\d+)$/.exec(String(l.listen))![1]));
      resolve({
        child, ports, exited, stderr: () => stderr, lines,
        stop: (signal = 'SIGTERM') => { child.kill(signal); return exited; },
      });
    });
    void exited.then((code) => reject(new Error(`dsql-proxy exited with ${code}: ${stderr}`)));
  });
}

/** A temporary directory for a test file's config files; `remove` deletes it. */
export function configDir(): { readonly dir: string; write(content: unknown): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'dsql-proxy-config-'));
  let count = 0;
  return {
    dir,
    write: (content) => {
      const path = join(dir, `config-${count++}.json`);
      writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
      return path;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Waits until `condition` holds, polling every 20 ms for up to `timeoutMs`; returns whether it held. */
export async function eventually(condition: () => boolean, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
