import { describe, expect, it } from 'vitest';
import { escapeHelp, escapeLabelValue, formatValue } from '../../src/metrics/exposition.js';
import { CounterFamily, GaugeFamily } from '../../src/metrics/families.js';
import { HistogramFamily } from '../../src/metrics/histogram.js';
import { MetricsRegistry } from '../../src/metrics/registry.js';

/** The sample lines of a rendered text, without HELP/TYPE comments. */
const samples = (text: string): string[] => text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));

describe('Prometheus text exposition', () => {
  it('escapes backslash, double quote and line feed in label values, in that order', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    const family = new CounterFamily('dsql_proxy_x_total', 'x', ['cluster']);
    family.with('we\\ird"\nid').inc();
    expect(samples(family.render())).toEqual(['dsql_proxy_x_total{cluster="we\\\\ird\\"\\nid"} 1']);
  });

  it('escapes backslash and line feed in HELP text but leaves double quotes alone', () => {
    expect(escapeHelp('say "hi"\\\nbye')).toBe('say "hi"\\\\\\nbye');
    const family = new GaugeFamily('dsql_proxy_g', 'two\nlines');
    family.with().set(2);
    expect(family.render()).toBe('# HELP dsql_proxy_g two\\nlines\n# TYPE dsql_proxy_g gauge\ndsql_proxy_g 2\n');
  });

  it('spells special values as NaN, +Inf and -Inf', () => {
    expect([NaN, Infinity, -Infinity, 0.25, 3].map(formatValue)).toEqual(['NaN', '+Inf', '-Inf', '0.25', '3']);
  });

  it('renders histogram buckets cumulatively, with +Inf equal to _count, then _sum and _count', () => {
    const family = new HistogramFamily('dsql_proxy_h_seconds', 'h', ['cluster'], [0.01, 0.1, 1]);
    const h = family.with('c1');
    for (const v of [0.005, 0.01, 0.05, 0.5, 0.7, 30]) h.observe(v);
    expect(samples(family.render())).toEqual([
      'dsql_proxy_h_seconds_bucket{cluster="c1",le="0.01"} 2', // le is inclusive: 0.01 falls in the 0.01 bucket
      'dsql_proxy_h_seconds_bucket{cluster="c1",le="0.1"} 3',
      'dsql_proxy_h_seconds_bucket{cluster="c1",le="1"} 5',
      'dsql_proxy_h_seconds_bucket{cluster="c1",le="+Inf"} 6',
      'dsql_proxy_h_seconds_sum{cluster="c1"} 31.265',
      'dsql_proxy_h_seconds_count{cluster="c1"} 6',
    ]);
  });

  it('ignores NaN and negative observations instead of spoiling the sum', () => {
    const family = new HistogramFamily('dsql_proxy_h_seconds', 'h', [], [1]);
    const h = family.with();
    h.observe(NaN);
    h.observe(-1);
    h.observe(0.5);
    expect(samples(family.render())).toContain('dsql_proxy_h_seconds_sum 0.5');
    expect(samples(family.render())).toContain('dsql_proxy_h_seconds_count 1');
  });

  it('writes HELP and TYPE once per family, before its samples, and sorts families and series whatever the creation order', () => {
    const build = (order: string[]): string => {
      const registry = new MetricsRegistry({ version: '1.2.3' });
      for (const cluster of order) registry.forListener(cluster).connectionAccepted();
      registry.gauge('dsql_proxy_draining', 'Draining.', () => 0);
      return registry.render();
    };
    const text = build(['zeta', 'alpha', 'mid']);
    expect(build(['mid', 'zeta', 'alpha'])).toBe(text);
    const lines = text.split('\n');
    expect(lines.filter((l) => l === '# TYPE dsql_proxy_connections_accepted_total counter')).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('# HELP dsql_proxy_connections_accepted_total '))).toHaveLength(1);
    const accepted = lines.filter((l) => l.startsWith('dsql_proxy_connections_accepted_total'));
    expect(accepted).toEqual(['alpha', 'mid', 'zeta'].map((c) => `dsql_proxy_connections_accepted_total{cluster="${c}"} 1`));
    const typeAt = lines.indexOf('# TYPE dsql_proxy_connections_accepted_total counter');
    expect(lines.indexOf(accepted[0]!)).toBe(typeAt + 1);
    const families = lines.filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]!);
    expect(families).toEqual([...families].sort());
    expect(new Set(families).size).toBe(families.length);
    expect(text.endsWith('\n')).toBe(true);
    // Every sample name belongs to the family whose TYPE line came last (one uninterrupted group per family).
    let current = '';
    for (const line of lines) {
      if (line.startsWith('# TYPE ')) current = line.split(' ')[2]!;
      else if (line !== '' && !line.startsWith('#')) expect(line.startsWith(current)).toBe(true);
    }
  });

  it('reports the version and Node.js version in dsql_proxy_build_info', () => {
    const text = new MetricsRegistry({ version: '0.9.1' }).render();
    expect(samples(text)).toContain(`dsql_proxy_build_info{version="0.9.1",node="${process.versions.node}"} 1`);
  });

  it('reads caller gauges when scraped, not when registered', () => {
    const registry = new MetricsRegistry();
    let waiting = 0;
    registry.gauge('dsql_proxy_connect_queue_waiting', 'Waiting.', () => waiting);
    waiting = 7;
    expect(samples(registry.render())).toContain('dsql_proxy_connect_queue_waiting 7');
  });

  it('refuses names without the dsql_proxy_ prefix, names registered twice and invalid names', () => {
    const registry = new MetricsRegistry();
    expect(() => registry.gauge('other_metric', 'x', () => 0)).toThrow(/dsql_proxy_/);
    registry.gauge('dsql_proxy_draining', 'x', () => 0);
    expect(() => registry.gauge('dsql_proxy_draining', 'x', () => 0)).toThrow(/already/);
    expect(() => registry.gauge('dsql_proxy_bad-name', 'x', () => 0)).toThrow(/invalid metric name/);
    expect(() => new CounterFamily('dsql_proxy_y_total', 'y', ['__reserved'])).toThrow(/invalid label name/);
    expect(() => new HistogramFamily('dsql_proxy_z', 'z', ['le'])).toThrow(/bucket label/);
  });

  it('refuses a counter step that would make it go down', () => {
    const counter = new CounterFamily('dsql_proxy_c_total', 'c').with();
    expect(() => counter.inc(-1)).toThrow(RangeError);
    expect(counter.value).toBe(0);
  });
});
