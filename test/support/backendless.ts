import type { TLSSocket } from 'node:tls';
import { AUTH_OK, Deframer, authenticationRequest, cstring, int16, int32, message } from './wire.js';

/** A text column of a RowDescription: table 0, attribute 0, type text (25), size -1, modifier -1, text format. */
function textColumn(name: string): Buffer {
  return Buffer.concat([cstring(name), int32(0), int16(0), int32(25), int16(-1), int32(-1), int16(0)]);
}

/** A DataRow cell: NULL, or the text of `value`. */
function cell(value: string | null): Buffer {
  if (value === null) return int32(-1);
  const text = Buffer.from(value);
  return Buffer.concat([int32(text.length), text]);
}

/**
 * Backendless mode: completes the login the way PostgreSQL would, then answers every simple Query with one
 * row (1, NULL, 0) and closes on Terminate: the proxy's cost without a backend's. Three columns satisfy
 * pgbench's start-up queries (scale; partitioning) and -S alike.
 */
export function holdIdleSession(tls: TLSSocket, pending: Buffer): void {
  const ready = message('Z', Buffer.from('I'));
  const answer = Buffer.concat([
    message('T', int16(3), ...['a', 'b', 'c'].map(textColumn)),
    message('D', int16(3), cell('1'), cell(null), cell('0')),
    message('C', cstring('SELECT 1')),
    ready,
  ]);
  tls.write(Buffer.concat([
    authenticationRequest(AUTH_OK),
    message('S', cstring('server_version'), cstring('16.0')),
    message('K', int32(1), int32(2)),
    ready,
  ]));
  const deframer = new Deframer();
  const onData = (chunk: Buffer): void => {
    deframer.push(chunk);
    try {
      for (let frame = deframer.nextTyped(); frame; frame = deframer.nextTyped()) {
        if (frame[0] === 0x51) tls.write(answer); // 'Q'
        else if (frame[0] === 0x58) tls.end(); // 'X', Terminate
      }
    } catch {
      tls.destroy();
    }
  };
  tls.on('data', onData);
  if (pending.length > 0) onData(pending);
  tls.resume(); // the login reader left the socket paused
}
