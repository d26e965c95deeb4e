/** Where a session's cancel requests must go: the address its upstream connection reached. */
export interface CancelTarget {
  /** The IP address the session's upstream connection was made to. */
  readonly address: string;
}

/** Least time between two cancels forwarded for the same session. */
export const CANCEL_INTERVAL_MS = 100;
/** Dropped cancels logged at info per minute; a flood of forged keys must not flood the log. */
const DROP_LOG_BUDGET = 10;

/**
 * The BackendKeyData this proxy handed to its clients, mapped to where each session went. A CancelRequest is
 * forwarded only for a key found here (as PgBouncer does): any other is dropped without dialing DSQL, so forged
 * or stale keys cost no upstream connection.
 */
export class CancelKeys {
  private readonly targets = new Map<string, CancelTarget>();
  /** When each registered key last had a cancel forwarded (ms, monotonic). */
  private readonly lastForward = new Map<string, number>();
  private dropWindowStart = -Infinity;
  private dropsInWindow = 0;

  /** Number of sessions whose key is registered. */
  get size(): number {
    return this.targets.size;
  }

  /** Registers a session's key (process id and secret, as in BackendKeyData); returns the function that removes it. */
  register(key: Buffer, target: CancelTarget): () => void {
    const id = key.toString('latin1');
    this.targets.set(id, target);
    return () => {
      if (this.targets.get(id) !== target) return;
      this.targets.delete(id);
      this.lastForward.delete(id);
    };
  }

  /**
   * Whether a cancel for `key` may be forwarded at `now`: at most one per key per CANCEL_INTERVAL_MS, so a client
   * holding a live key cannot turn a cancel flood into a flood of new DSQL connections.
   */
  mayForward(key: Buffer, now: number): boolean {
    const id = key.toString('latin1');
    const last = this.lastForward.get(id);
    if (last !== undefined && now - last < CANCEL_INTERVAL_MS) return false;
    if (this.targets.has(id)) this.lastForward.set(id, now);
    return true;
  }

  /** Whether a dropped cancel at `now` still gets an info line: the first DROP_LOG_BUDGET per minute do, the rest go to debug. */
  logDropAtInfo(now: number): boolean {
    if (now - this.dropWindowStart >= 60_000) { this.dropWindowStart = now; this.dropsInWindow = 0; }
    return ++this.dropsInWindow <= DROP_LOG_BUDGET;
  }

  /** The target of the session that holds `key` (process id and secret, as in a CancelRequest), if any. */
  lookup(key: Buffer): CancelTarget | undefined {
    return this.targets.get(key.toString('latin1'));
  }
}
