import { SqlState } from '../protocol/codes.js';
import { errorResponse } from '../protocol/messages.js';

/** Aurora DSQL closes every connection after 60 minutes, without an error message (facts: limits). */
export const DSQL_MAX_CONNECTION_MS = 60 * 60_000;
/** A session at least this old that the server closes silently is taken to have reached DSQL's limit. */
const NEAR_LIMIT_MS = DSQL_MAX_CONNECTION_MS - 60_000;

/**
 * The FATAL a client is sent when the server ended its session between two messages without a word: why, and
 * for a session about an hour old, DSQL's 60-minute limit. Clients then show a reason instead of "server closed
 * the connection unexpectedly".
 */
export function upstreamClosedError(sessionAgeMs: number): Buffer {
  const minutes = Math.floor(sessionAgeMs / 60_000);
  if (sessionAgeMs >= NEAR_LIMIT_MS) {
    return errorResponse({
      severity: 'FATAL', code: SqlState.adminShutdown,
      message: `terminating connection: Aurora DSQL closed the session after ${minutes} minutes (it ends every connection at 60 minutes)`,
      hint: 'Reconnect. Applications should recycle pooled connections before 60 minutes (AWS\'s DSQL connectors use 55).',
    });
  }
  return errorResponse({
    severity: 'FATAL', code: SqlState.connectionFailure,
    message: `the server closed the connection without an error message (session age ${minutes < 1 ? `${Math.round(sessionAgeMs / 1000)} s` : `${minutes} min`})`,
    hint: 'Reconnect. If it keeps happening, check the cluster status (aws dsql get-cluster) and the dsql-proxy log.',
  });
}
