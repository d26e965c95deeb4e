import { connect, type Socket } from 'node:net';
import { serializeStartupMessage } from '../src/protocol/startup.js';

const STARTUP = serializeStartupMessage(196608, [['user', 'admin'], ['database', 'postgres']]);
const READY_FOR_QUERY = 0x5a;

/** Opens one session and resolves once the server said ReadyForQuery ('Z' as the last message of the burst). */
function openSession(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(STARTUP));
    let tail = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      tail = Buffer.concat([tail, chunk]).subarray(-6);
      // ReadyForQuery is 'Z', length 5, status byte: the last six bytes of the login burst.
      if (tail.length === 6 && tail[0] === READY_FOR_QUERY && tail.readInt32BE(1) === 5) {
        socket.off('data', onData);
        resolve(socket);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before ReadyForQuery')));
  });
}

/** Holds authenticated idle sessions open against `port`, adding them `concurrency` at a time. */
export class IdleSessions {
  private readonly sockets: Socket[] = [];

  constructor(private readonly port: number) {}

  /** Number of sessions held. */
  get size(): number {
    return this.sockets.length;
  }

  /** Opens sessions until `total` are held. */
  async growTo(total: number, concurrency = 200): Promise<void> {
    while (this.sockets.length < total) {
      const batch = Math.min(concurrency, total - this.sockets.length);
      const opened = await Promise.all(Array.from({ length: batch }, () => openSession(this.port)));
      for (const s of opened) { s.removeAllListeners('close'); s.on('error', () => undefined); }
      this.sockets.push(...opened);
    }
  }

  /** Closes every session. */
  async closeAll(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.length = 0;
    await new Promise((r) => setTimeout(r, 500));
  }
}
