import type { Clock } from './ports.js';

/**
 * --max-connect-rate for one cluster (shared by every listener serving it): new upstream dials per second, with a
 * FIFO queue for the ones over the rate. A waiter leaves the queue when its signal aborts (the connect deadline).
 * STUB: the real token bucket lands with the limits change.
 */
export class ConnectRateLimiter {
  /** `perSecond` dials a second (0 = unlimited). */
  constructor(readonly perSecond: number, private readonly clock: Clock) {}

  /** Resolves when a dial may start; rejects with the signal's reason if it aborts first. */
  async acquire(signal?: AbortSignal): Promise<void> {
    void this.clock;
    signal?.throwIfAborted();
  }

  /** Dials waiting in the queue. */
  get waiting(): number {
    return 0;
  }
}
