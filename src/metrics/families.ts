import { checkLabelName, checkMetricName, familyHeader, formatLabels, formatValue, type MetricType } from './exposition.js';

/** A metric family: one name, one type, one series per set of label values. */
export interface MetricFamily {
  /** The metric name (without the histogram suffixes). */
  readonly name: string;
  /** The family's group of lines (HELP, TYPE, samples), each ending in a line feed; '' when it has no series. */
  render(): string;
}

/** Orders label value lists element by element, so the output does not depend on creation order. */
function compareValues(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** What every family shares: checked names and a map of series keyed by their label values. */
export abstract class SeriesFamily<S> implements MetricFamily {
  private readonly series = new Map<string, { readonly values: readonly string[]; readonly state: S }>();

  constructor(readonly name: string, readonly help: string, private readonly type: MetricType,
    readonly labelNames: readonly string[]) {
    checkMetricName(name);
    for (const label of labelNames) checkLabelName(label);
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`${name}: a label name appears twice`);
  }

  /** The series state of these label values, made by `create` the first time. */
  protected lookup(values: readonly string[], create: () => S): S {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name} takes ${this.labelNames.length} label values (${this.labelNames.join(', ')}), got ${values.length}`);
    }
    const key = JSON.stringify(values);
    let entry = this.series.get(key);
    if (!entry) {
      entry = { values: [...values], state: create() };
      this.series.set(key, entry);
    }
    return entry.state;
  }

  /** True when a series of these label values exists already. */
  protected has(values: readonly string[]): boolean {
    return this.series.has(JSON.stringify(values));
  }

  /** The sample lines of one series. */
  protected abstract lines(labelValues: readonly string[], state: S): string;

  render(): string {
    if (this.series.size === 0) return '';
    const sorted = [...this.series.values()].sort((a, b) => compareValues(a.values, b.values));
    let text = familyHeader(this.name, this.help, this.type);
    for (const { values, state } of sorted) text += this.lines(values, state);
    return text;
  }
}

/** A counter's series: it only goes up. */
export class Counter {
  private count = 0;

  /** The count so far. */
  get value(): number { return this.count; }

  /** Adds `by` (default 1); a negative or non-finite step would break rate() and is refused. */
  inc(by = 1): void {
    if (!(by >= 0) || by === Infinity) throw new RangeError(`a counter cannot grow by ${by}`);
    this.count += by;
  }
}

/** A gauge's series: a value that is set, or moved up and down. */
export class Gauge {
  private current = 0;

  /** The current value. */
  get value(): number { return this.current; }

  /** Sets the value. */
  set(value: number): void { this.current = value; }
}

/** A series of a counter or gauge family: a stored value or a function read when scraped. */
type Scalar = { readonly stored?: Counter | Gauge; readonly read: () => number };

/** Counters and gauges: one number per series. */
abstract class ScalarFamily extends SeriesFamily<Scalar> {
  /**
   * A series whose value is `read` when scraped, for numbers kept elsewhere (e.g. live relays' byte counts): no work
   * happens until someone asks. Each label set may be registered once.
   */
  read(values: readonly string[], read: () => number): void {
    if (this.has(values)) throw new Error(`${this.name}${formatLabels(this.labelNames, values)} exists already`);
    this.lookup(values, () => ({ read }));
  }

  /** The stored series of these values, made at 0 the first time. */
  protected stored<T extends Counter | Gauge>(values: readonly string[], make: () => T): T {
    const scalar = this.lookup(values, () => {
      const stored = make();
      return { stored, read: () => stored.value };
    });
    if (!scalar.stored) throw new Error(`${this.name}${formatLabels(this.labelNames, values)} is read when scraped, not stored`);
    return scalar.stored as T;
  }

  protected lines(values: readonly string[], scalar: Scalar): string {
    return `${this.name}${formatLabels(this.labelNames, values)} ${formatValue(scalar.read())}\n`;
  }
}

/** A family of counters (names end in `_total` by convention). */
export class CounterFamily extends ScalarFamily {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, 'counter', labelNames);
  }

  /** The counter of these label values (one per label name, in order), made at 0 the first time. */
  with(...values: string[]): Counter {
    return this.stored(values, () => new Counter());
  }
}

/** A family of gauges. */
export class GaugeFamily extends ScalarFamily {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, 'gauge', labelNames);
  }

  /** The gauge of these label values (one per label name, in order), made at 0 the first time. */
  with(...values: string[]): Gauge {
    return this.stored(values, () => new Gauge());
  }
}
