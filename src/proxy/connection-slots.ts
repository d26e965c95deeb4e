/**
 * The process-wide --max-connections budget, shared by every listener: a client connection holds one slot from
 * accept to close. 0 means no limit.
 */
export class ConnectionSlots {
  private used = 0;

  /** `max` slots; 0 = unlimited. */
  constructor(readonly max: number) {}

  /** Takes a slot; false when none is free (the caller refuses the client with 53300). */
  tryTake(): boolean {
    if (this.max > 0 && this.used >= this.max) return false;
    this.used++;
    return true;
  }

  /** Gives back a slot taken with tryTake. */
  release(): void {
    this.used--;
  }

  /** Slots in use. */
  get inUse(): number {
    return this.used;
  }

  /** True when the next client would be refused. */
  get full(): boolean {
    return this.max > 0 && this.used >= this.max;
  }
}
