import { createWriteStream } from 'node:fs';
import { run, toolEnv, type Target } from './pgbench.js';

/** Writes a COPY text file of `bytes` bytes (lines of 1,000 characters) for COPY FROM STDIN. */
export async function makeCopyFile(path: string, bytes: number): Promise<void> {
  const line = 'x'.repeat(999) + '\n';
  const chunk = Buffer.from(line.repeat(1024));
  const out = createWriteStream(path);
  for (let written = 0; written < bytes; written += chunk.length) {
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
}

/** COPY … TO STDOUT of `bytes` bytes through the target into /dev/null; resolves with MB/s. */
export async function copyOut(target: Target, bytes: number): Promise<number> {
  const rows = Math.ceil(bytes / 1000);
  const started = performance.now();
  await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null', '-d', target.conninfo,
    '-c', `\\copy (select repeat('x', 999) from generate_series(1, ${rows})) to stdout`], toolEnv(target));
  return bytes / 1e6 / ((performance.now() - started) / 1000);
}

/** COPY … FROM STDIN of the file through the target into an unlogged table; resolves with MB/s. */
export async function copyIn(target: Target, file: string, bytes: number): Promise<number> {
  await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', target.conninfo, '-c', 'create unlogged table if not exists bench_copy_in (line text); truncate bench_copy_in'], toolEnv(target));
  const started = performance.now();
  await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', target.conninfo, '-c', `\\copy bench_copy_in from '${file}'`], toolEnv(target));
  const seconds = (performance.now() - started) / 1000;
  await run('psql', ['-X', '-q', '-d', target.conninfo, '-c', 'truncate bench_copy_in'], toolEnv(target));
  return bytes / 1e6 / seconds;
}
