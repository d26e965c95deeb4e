import { formatLabels, formatValue } from './exposition.js';
import { SeriesFamily } from './families.js';

/** Bucket bounds in seconds for network round trips and logins: 1 ms to 10 s, about three per decade. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One histogram series: a count per bucket (not cumulative; rendering adds them up), a sum and a count. */
export class Histogram {
  /** Observations per bucket; the last slot holds those above every bound (the +Inf bucket's own share). */
  private readonly perBucket: number[];
  private total = 0;
  private observations = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.perBucket = new Array<number>(bounds.length + 1).fill(0);
  }

  /** Records one value; NaN and negative values (a clock going back) are ignored rather than spoiling the sum. */
  observe(value: number): void {
    if (!(value >= 0)) return;
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.perBucket[i]!++;
    this.total += value;
    this.observations++;
  }

  /** Observations in bucket `i` alone (not cumulative); `i` = the number of bounds is the share above them all. */
  countIn(i: number): number { return this.perBucket[i] ?? 0; }

  /** Sum of every observation. */
  get sum(): number { return this.total; }

  /** Number of observations. */
  get count(): number { return this.observations; }
}

/** A family of histograms with fixed upper bounds (`le` is inclusive, as the format defines it). */
export class HistogramFamily extends SeriesFamily<Histogram> {
  private readonly bounds: readonly number[];
  private readonly bucketLabels: readonly string[];

  constructor(name: string, help: string, labelNames: readonly string[] = [], bounds: readonly number[] = LATENCY_BUCKETS_SECONDS) {
    super(name, help, 'histogram', labelNames);
    if (labelNames.includes('le')) throw new Error(`${name}: "le" is the bucket label of a histogram`);
    if (bounds.length === 0 || bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]!))) {
      throw new Error(`${name}: bucket bounds must be finite and increasing`);
    }
    this.bounds = [...bounds];
    this.bucketLabels = [...labelNames, 'le'];
  }

  /** The histogram of these label values (one per label name, in order), made empty the first time. */
  with(...values: string[]): Histogram {
    return this.lookup(values, () => new Histogram(this.bounds));
  }

  protected lines(values: readonly string[], histogram: Histogram): string {
    let text = '';
    let cumulative = 0;
    const le = [...values, ''];
    for (let i = 0; i <= this.bounds.length; i++) {
      cumulative += histogram.countIn(i);
      le[values.length] = i < this.bounds.length ? formatValue(this.bounds[i]!) : '+Inf';
      text += `${this.name}_bucket${formatLabels(this.bucketLabels, le)} ${cumulative}\n`;
    }
    const labels = formatLabels(this.labelNames, values);
    text += `${this.name}_sum${labels} ${formatValue(histogram.sum)}\n`;
    text += `${this.name}_count${labels} ${histogram.count}\n`;
    return text;
  }
}
