import { describe, expect, it } from 'vitest';
import { ConnectRateLimiter } from '../../src/proxy/connect-rate.js';
import { systemClock } from '../../src/proxy/ports.js';

/** Resolves each acquire in turn and records the time it was granted, relative to the start. */
async function grantTimes(limiter: ConnectRateLimiter, count: number): Promise<number[]> {
  const start = performance.now();
  return Promise.all(Array.from({ length: count }, () => limiter.acquire().then(() => performance.now() - start)));
}

describe('ConnectRateLimiter', () => {
  it('lets one second\'s worth through at once, then spaces the rest at the rate, in arrival order', async () => {
    const limiter = new ConnectRateLimiter(20, systemClock);
    const order: number[] = [];
    const times = await grantTimes(limiter, 30);
    const granted = Promise.all([0, 1, 2].map((i) => limiter.acquire().then(() => order.push(i))));
    await granted;
    expect(order).toEqual([0, 1, 2]);
    expect(times.slice(0, 20).every((t) => t < 30)).toBe(true);
    // 10 over the burst at 20/s: the last comes about half a second later, not all at once and not much later.
    expect(times[29]!).toBeGreaterThan(400);
    expect(times[29]!).toBeLessThan(900);
    for (let i = 21; i < 30; i++) expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1]!);
  });

  it('takes a waiter whose signal aborts out of the queue with the signal\'s reason, and serves the next one', async () => {
    const limiter = new ConnectRateLimiter(2, systemClock);
    await limiter.acquire();
    await limiter.acquire();
    const controller = new AbortController();
    const leaving = limiter.acquire(controller.signal);
    const staying = limiter.acquire();
    expect(limiter.waiting).toBe(2);
    const reason = new Error('client gone');
    controller.abort(reason);
    await expect(leaving).rejects.toBe(reason);
    expect(limiter.waiting).toBe(1);
    const started = performance.now();
    await staying;
    expect(performance.now() - started).toBeLessThan(700); // the first token due goes to it, not to the leaver
    expect(limiter.waiting).toBe(0);
  });

  it('refuses at once when the signal has already aborted, and never waits when unlimited', async () => {
    const aborted = AbortSignal.abort(new Error('late'));
    await expect(new ConnectRateLimiter(5, systemClock).acquire(aborted)).rejects.toThrow('late');
    const unlimited = new ConnectRateLimiter(0, systemClock);
    const times = await grantTimes(unlimited, 500);
    expect(Math.max(...times)).toBeLessThan(50);
  });
});
