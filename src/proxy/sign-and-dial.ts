import { SqlState } from '../protocol/codes.js';
import { abortable, deadline, DeadlineExceeded } from './abort.js';
import type { ClientConnection } from './connection.js';
import type { ConnectRateLimiter } from './connect-rate.js';
import { ConnectionFailure, NO_METRICS, type UpstreamConnection } from './ports.js';
import type { SessionDeps } from './session.js';

/** How much longer than the dialer's own deadline the session waits for a dial (so the dialer's precise failure wins). */
const DIAL_GRACE_MS = 500;

/**
 * Signs the token, then dials, under one deadline: signing is local and cheap, so a credential failure costs no
 * upstream connection, and a credential source that hangs cannot hold the client past --connect-timeout.
 * The upstream socket is adopted by the connection the moment it exists, even if nobody waits for it any more.
 */
export async function signAndDial(conn: ClientConnection, user: string, deps: SessionDeps): Promise<{ token: string; upstream: UpstreamConnection }> {
  const seconds = deps.settings.connectTimeoutMs / 1000;
  const started = deps.clock.now();
  const metrics = deps.metrics ?? NO_METRICS;
  const limit = deadline(conn.signal, deps.settings.connectTimeoutMs);
  try {
    let token: string;
    try {
      token = await deps.tokens.token(user, limit.signal);
    } catch (error) {
      if (!conn.signal.aborted) metrics.tokenSigningFailed();
      if (!(error instanceof DeadlineExceeded)) throw error;
      throw new ConnectionFailure(SqlState.invalidAuthorization,
        `dsql-proxy could not sign an IAM token within ${seconds} s: the AWS credential source did not answer`,
        'Check the credential source (aws sts get-caller-identity): an SSO login waiting for a browser, a credential_process '
        + 'or metadata endpoint that hangs. Sessions already open are not affected.');
    }
    if (deps.connectRate) await waitForDialSlot(deps.connectRate, limit.signal, deps);
    // The dialer keeps its own --connect-timeout deadline, with failures that say which step stalled; the
    // session's outlasts it slightly, so it decides only when signing used up part of the time.
    limit.clear();
    const dialStarted = deps.clock.now();
    const dialLimit = deadline(conn.signal, Math.max(0, started + deps.settings.connectTimeoutMs - deps.clock.now()) + DIAL_GRACE_MS);
    const dialing = deps.dialer.dial({ signal: dialLimit.signal }).then((upstream) => {
      if (dialLimit.signal.aborted || !conn.adopt(upstream.socket)) {
        upstream.socket.destroy();
        throw dialLimit.signal.reason as Error;
      }
      return upstream;
    });
    dialing.catch(() => undefined);
    try {
      const upstream = await abortable(dialing, dialLimit.signal);
      metrics.upstreamConnected((deps.clock.now() - dialStarted) / 1000);
      return { token, upstream };
    } catch (error) {
      if (!(error instanceof DeadlineExceeded)) throw error;
      throw new ConnectionFailure(SqlState.unableToConnect, `could not connect to the endpoint within ${seconds} s`,
        'Check that the endpoint\'s security group allows inbound TCP 5432 from this host, or raise --connect-timeout.');
    } finally {
      dialLimit.clear();
    }
  } finally {
    limit.clear();
  }
}

/**
 * Waits in the cluster's --max-connect-rate queue; the wait counts against the connect deadline, and running out of
 * it is the client's 53400, as DSQL's own refusal of a connection burst would be.
 */
async function waitForDialSlot(rate: ConnectRateLimiter, signal: AbortSignal, deps: SessionDeps): Promise<void> {
  try {
    await rate.acquire(signal);
  } catch (error) {
    if (!(error instanceof DeadlineExceeded)) throw error;
    throw new ConnectionFailure(SqlState.configurationLimitExceeded,
      `too many new connections: --max-connect-rate (${rate.perSecond} per second to this cluster) kept this one waiting past --connect-timeout (${deps.settings.connectTimeoutMs / 1000} s)`,
      'Many clients are connecting at once: retry, reuse connections (a pool), or raise --max-connect-rate up to the cluster\'s quota (100 per second by default).');
  }
}
