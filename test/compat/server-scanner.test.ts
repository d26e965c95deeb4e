import { describe, expect, it } from 'vitest';
import { READY_FOR_QUERY, ServerScanner } from '../../src/compat/server-scanner.js';
import { cstring, int16, int32, message } from '../support/wire.js';

/** The server's messages of one exchange: every header size case (empty bodies, long ones) and two Z statuses. */
const MESSAGES = [
  message('1'), message('2'), message('T', int16(1), cstring('a'), int32(0), int16(0), int32(23), int16(4), int32(-1), int16(0)),
  message('D', int16(1), int32(300), Buffer.alloc(300, 0x62)), message('C', cstring('SELECT 1')), message('Z', Buffer.from('T')),
  message('N', Buffer.from('SNOTICE\0'), Buffer.from([0])), message('n'), message('Z', Buffer.from('E')),
];
const STREAM = Buffer.concat(MESSAGES);

/** Where each message starts and ends in STREAM. */
const BOUNDS = MESSAGES.reduce<{ start: number; end: number; type: string; status?: string }[]>((out, m) => {
  const start = out.at(-1)?.end ?? 0;
  out.push({ start, end: start + m.length, type: String.fromCharCode(m[0]!), status: m[0] === READY_FOR_QUERY ? String.fromCharCode(m[5]!) : undefined });
  return out;
}, []);

/** The scanner's reports for STREAM cut at `cuts`, as absolute offsets (readyStarts keeps -1 as it is). */
function scan(cuts: readonly number[]): string[] {
  const events: string[] = [];
  let base = 0;
  const scanner = new ServerScanner({
    readyStarts: (at) => { events.push(`Z starts ${at < 0 ? at : base + at}`); },
    messageEnds: (type, at, status) => {
      events.push(`${String.fromCharCode(type)} ends ${base + at}${type === READY_FOR_QUERY ? ` ${String.fromCharCode(status)}` : ''}`);
    },
  });
  const points = [0, ...cuts, STREAM.length];
  for (let i = 0; i + 1 < points.length; i++) {
    base = points[i]!;
    scanner.scan(STREAM.subarray(points[i], points[i + 1]));
  }
  return events;
}

/** What the scanner must report: a Z's start only when its whole header is in one chunk, else -1. */
function expected(cuts: readonly number[]): string[] {
  return BOUNDS.flatMap(({ start, end, type, status }) => {
    if (type !== 'Z') return [`${type} ends ${end}`];
    const headerCut = cuts.some((c) => c > start && c < start + 5);
    return [`Z starts ${headerCut ? -1 : start}`, `Z ends ${end} ${status}`];
  });
}

describe('ServerScanner', () => {
  it('reports each message end, and each ReadyForQuery start and status, at the same stream offsets however it is cut', () => {
    expect(scan([])).toEqual(expected([]));
    for (let at = 0; at <= STREAM.length; at++) expect(scan([at]), `cut at ${at}`).toEqual(expected([at]));
    const bytes = Array.from({ length: STREAM.length - 1 }, (_, i) => i + 1);
    expect(scan(bytes)).toEqual(expected(bytes));
  });

  it('stops reporting at a length word below 4', () => {
    const events: string[] = [];
    const scanner = new ServerScanner({
      readyStarts: (at) => { events.push(`Z starts ${at}`); },
      messageEnds: (type, at) => { events.push(`${String.fromCharCode(type)} ends ${at}`); },
    });
    scanner.scan(Buffer.concat([message('1'), Buffer.from('C'), int32(2), message('Z', Buffer.from('I'))]));
    scanner.scan(message('Z', Buffer.from('I')));
    expect(events).toEqual(['1 ends 5']);
  });
});
