import type { Socket } from 'node:net';
import type { Deframer } from './wire.js';

/**
 * Resolves with the next packet `take` cuts from `socket`'s bytes (undefined if the socket ends first), then
 * pauses the socket: what follows stays in `deframer` or unread until the next phase asks for it.
 */
export function readPacket(socket: Socket, deframer: Deframer, take: (d: Deframer) => Buffer | undefined): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const finish = (error: unknown, packet?: Buffer): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.pause();
      if (error) reject(error); else resolve(packet);
    };
    const onData = (chunk: Buffer): void => {
      deframer.push(chunk);
      try {
        const packet = take(deframer);
        if (packet) finish(undefined, packet);
      } catch (error) {
        finish(error);
      }
    };
    const onEnd = (): void => finish(undefined);
    try {
      const packet = take(deframer);
      if (packet) { resolve(packet); return; }
    } catch (error) {
      reject(error);
      return;
    }
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.resume();
  });
}
