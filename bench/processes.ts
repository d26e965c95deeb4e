import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** CPU time of a process in microseconds, split into user and system (kernel) time, from /proc. */
export interface CpuTimes {
  readonly user: number;
  readonly system: number;
}

/** CPU time of a process in microseconds, from /proc/<pid>/stat. */
export function cpuTimes(pid: number): CpuTimes {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat.
  return { user: (Number(fields[11]) * 1_000_000) / CLOCK_TICKS, system: (Number(fields[12]) * 1_000_000) / CLOCK_TICKS };
}

/** Resident set size of a process in bytes, from /proc. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

/** Linux's USER_HZ; 100 on every common configuration. */
const CLOCK_TICKS = 100;

/** A child process started for the bench, stopped with SIGTERM. */
export interface BenchProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `command` (through sh, so the soft file descriptor limit can be raised to the hard one first) and waits for `ready` in its output. */
export function startProcess(command: string, args: readonly string[], ready: RegExp, env: NodeJS.ProcessEnv = process.env): Promise<BenchProcess> {
  const quoted = [command, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('sh', ['-c', `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec ${quoted}`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-65_536); // a long run logs a line per connection
      if (ready.test(output)) {
        resolve({ child, pid: child.pid!, output: () => output, stop: async () => { child.kill('SIGTERM'); await exited; } });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => reject(new Error(`${command} exited before it was ready:\n${output}`)));
  });
}
