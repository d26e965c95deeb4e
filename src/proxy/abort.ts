/** Deadlines and cancellation for the awaits of one connection. */

/** The reason a deadline signal carries: which phase ran out of time. */
export class DeadlineExceeded extends Error {
  constructor(readonly seconds: number) {
    super(`deadline of ${seconds} s exceeded`);
    this.name = 'DeadlineExceeded';
  }
}

/** A signal that aborts when `parent` does or after `ms`; `clear` stops its timer (call it when the phase ends). */
export interface Deadline {
  readonly signal: AbortSignal;
  clear(): void;
}

/**
 * A deadline under `parent`. Its own timer (not AbortSignal.timeout's, which lingers until it fires) is cleared
 * by `clear`, so a finished phase leaves nothing scheduled; the parent's abort reason passes through unchanged.
 */
export function deadline(parent: AbortSignal, ms: number): Deadline {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DeadlineExceeded(ms / 1000)), ms);
  const signal = AbortSignal.any([parent, controller.signal]);
  return { signal, clear: () => clearTimeout(timer) };
}

/** Settles like `promise`, or rejects with the signal's reason as soon as it aborts (the promise is left to settle unobserved). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value); },
      (error: unknown) => { signal.removeEventListener('abort', onAbort); reject(error as Error); },
    );
  });
}
