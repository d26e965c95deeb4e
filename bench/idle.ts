import { connect, type Socket } from 'node:net';
import { serializeStartupMessage } from '../src/protocol/startup.js';
import { readUntilReady } from '../test/support/raw-client.js';

const STARTUP = serializeStartupMessage(196608, [['user', 'admin'], ['database', 'postgres']]);

/** Opens one session and resolves once the login burst ended with ReadyForQuery. */
async function openSession(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  socket.write(STARTUP);
  await readUntilReady(socket);
  return socket;
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
      for (const s of opened) s.on('error', () => undefined);
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
