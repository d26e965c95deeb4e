/** Where a session's cancel requests must go: the address its upstream connection reached. */
export interface CancelTarget {
  /** The IP address the session's upstream connection was made to. */
  readonly address: string;
}

/**
 * The BackendKeyData this proxy handed to its clients, mapped to where each session went. A CancelRequest is
 * forwarded only for a key found here (as PgBouncer does): any other is dropped without dialing DSQL, so forged
 * or stale keys cost no upstream connection.
 */
export class CancelKeys {
  private readonly targets = new Map<string, CancelTarget>();

  /** Number of sessions whose key is registered. */
  get size(): number {
    return this.targets.size;
  }

  /** Registers a session's key (process id and secret, as in BackendKeyData); returns the function that removes it. */
  register(key: Buffer, target: CancelTarget): () => void {
    const id = key.toString('latin1');
    this.targets.set(id, target);
    return () => { if (this.targets.get(id) === target) this.targets.delete(id); };
  }

  /** The target of the session that holds `key` (process id and secret, as in a CancelRequest), if any. */
  lookup(key: Buffer): CancelTarget | undefined {
    return this.targets.get(key.toString('latin1'));
  }
}
