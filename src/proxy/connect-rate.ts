import type { Clock } from './ports.js';

/** One dial waiting for its turn. */
interface Waiter {
  readonly grant: () => void;
}

/**
 * --max-connect-rate for one cluster, shared by every listener serving it: a token bucket of `perSecond` new
 * upstream dials a second, holding up to one second's worth (so a quiet proxy lets a burst of `perSecond` through
 * at once, well inside DSQL's burst of 1,000), with a FIFO queue for the dials over the rate. DSQL refuses a burst
 * past its own rate with 53400 at login; queueing here instead turns that into a short wait. A waiter leaves the
 * queue when its signal aborts (the connect deadline, or its client leaving).
 */
export class ConnectRateLimiter {
  private tokens: number;
  private refilledAt: number;
  private readonly queue: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  /** `perSecond` dials a second (0 = unlimited). */
  constructor(readonly perSecond: number, private readonly clock: Clock) {
    this.tokens = perSecond;
    this.refilledAt = clock.now();
  }

  /** Resolves when a dial may start; rejects with the signal's reason if it aborts first. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (this.perSecond <= 0) return Promise.resolve();
    this.refill();
    if (this.queue.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.queue.indexOf(waiter);
        if (at >= 0) this.queue.splice(at, 1);
        reject(signal!.reason as Error);
      };
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      this.schedule();
    });
  }

  /** Dials waiting in the queue. */
  get waiting(): number {
    return this.queue.length;
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.refilledAt) * this.perSecond) / 1000);
    this.refilledAt = now;
  }

  /** Grants what the bucket holds to the head of the queue, and wakes up again when the next token is due. */
  private release = (): void => {
    this.timer = undefined;
    this.refill();
    while (this.queue.length > 0 && this.tokens >= 1) {
      this.tokens -= 1;
      this.queue.shift()!.grant();
    }
    this.schedule();
  };

  private schedule(): void {
    if (this.timer !== undefined || this.queue.length === 0) return;
    const wait = Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.perSecond));
    this.timer = setTimeout(this.release, wait);
  }
}
