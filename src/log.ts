import { pino, type DestinationStream } from 'pino';
import type { LogLevel } from './config.js';
import type { Logger } from './proxy/ports.js';

/**
 * Field paths pino censors wherever they appear, as a second line of defence: the proxy never
 * passes tokens or credentials to the logger in the first place.
 */
export const REDACTED_PATHS = [
  'password', 'token', 'secretAccessKey', 'sessionToken', 'credentials',
  '*.password', '*.token', '*.secretAccessKey', '*.sessionToken', '*.credentials',
];

/** Creates the process logger: JSON lines on stderr (or `destination`), secrets redacted. */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      name: 'dsql-proxy',
      level,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    destination ?? pino.destination({ fd: 2, sync: true }),
  );
}
