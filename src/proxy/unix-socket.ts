import { lstat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';

/** The socket file is in use by a live process (another proxy or a PostgreSQL server). */
export class SocketInUseError extends Error {
  /** Mirrors EADDRINUSE so callers can treat it like a busy TCP port. */
  readonly code = 'EADDRINUSE';

  constructor(readonly path: string) {
    super(`${path} is in use: another process is listening on it`);
    this.name = 'SocketInUseError';
  }
}

/**
 * Makes way for a unix socket at `path`: nothing there is fine; a socket nobody answers on (left by a process that
 * died) is removed; a live socket, or a file that is not a socket, is left alone and reported.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket: remove it or choose another --unix-socket directory`);
  if (await answers(path)) throw new SocketInUseError(path);
  await unlink(path).catch((error: NodeJS.ErrnoException) => { if (error.code !== 'ENOENT') throw error; });
}

/**
 * Whether a process serves the socket. Only ECONNREFUSED means nobody does: a live server with a full backlog
 * answers EAGAIN, and must not lose its socket file (a unix-socket connect never waits, so no deadline is needed).
 */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = connect({ path });
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') resolve(false);
      else reject(new Error(`cannot tell whether ${path} is in use (${error.code ?? error.message}): remove it if no process serves it`));
    });
  });
}
