import type { CancelRequest } from '../protocol/startup.js';
import { abortable, deadline } from './abort.js';
import { CANCEL_INTERVAL_MS, type CancelKeys } from './cancel-keys.js';
import type { ClientConnection } from './connection.js';
import type { Clock, Dialer, Logger } from './ports.js';

/** What became of a CancelRequest. */
export type CancelOutcome = 'cancel-forwarded' | 'cancel-dropped' | 'cancel-failed';

/**
 * Forwards a CancelRequest whose key this proxy handed out: a new upstream connection to the address its session
 * reached, over the same route (SNI, verification), the request bytes exactly as the client sent them, then close.
 * Any other key is dropped without dialing: each dial spends the cluster's new-connection rate. The server never
 * answers a CancelRequest, so completion means the bytes were flushed. Never rejects.
 */
export async function forwardCancel(conn: ClientConnection, request: CancelRequest,
  deps: { readonly dialer: Dialer; readonly clock: Clock; readonly settings: { readonly connectTimeoutMs: number } },
  keys: CancelKeys, log: Logger): Promise<{ outcome: CancelOutcome; upstream?: string }> {
  const { dialer, clock } = deps;
  const key = request.raw.subarray(8);
  const target = keys.lookup(key);
  const now = clock.now();
  if (!target || !keys.mayForward(key, now)) {
    const reason = target ? `another cancel for that session was forwarded less than ${CANCEL_INTERVAL_MS} ms ago` : 'no session of this proxy holds that key';
    const fields = { processId: request.processId };
    if (keys.logDropAtInfo(now)) log.info(fields, `cancel request dropped: ${reason}`);
    else log.debug(fields, `cancel request dropped: ${reason}`);
    return { outcome: 'cancel-dropped' };
  }
  const limit = deadline(conn.signal, deps.settings.connectTimeoutMs);
  try {
    const dialing = dialer.dial({ address: target.address, signal: limit.signal }).then((upstream) => {
      if (!conn.adopt(upstream.socket) || limit.signal.aborted) { upstream.socket.destroy(); throw limit.signal.reason ?? new Error('aborted'); }
      return upstream;
    });
    dialing.catch(() => undefined);
    const upstream = await abortable(dialing, limit.signal);
    await abortable(new Promise<void>((resolve, reject) => {
      upstream.socket.once('error', reject);
      upstream.socket.end(request.raw, () => resolve());
    }), limit.signal).finally(() => upstream.socket.destroy());
    log.info({ processId: request.processId, upstream: upstream.remoteAddress }, 'cancel request forwarded');
    return { outcome: 'cancel-forwarded', upstream: upstream.remoteAddress };
  } catch (error) {
    log.warn({ processId: request.processId, error: (error as Error).message }, 'cancel request could not be forwarded');
    return { outcome: 'cancel-failed', upstream: target.address };
  } finally {
    limit.clear();
  }
}
