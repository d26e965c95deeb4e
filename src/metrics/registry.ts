import type { ListenerMetrics } from '../proxy/ports.js';
import { GaugeFamily, type MetricFamily } from './families.js';
import { ClusterMetrics, ListenerFamilies } from './listener-metrics.js';

/** Every metric this process exposes starts with this. */
export const METRIC_PREFIX = 'dsql_proxy_';

/** What the registry reports about the build. */
export interface MetricsOptions {
  /** dsql-proxy's version, for dsql_proxy_build_info (default "unknown"). */
  readonly version?: string;
}

/**
 * Every metric of the process, rendered in the Prometheus text exposition format for /metrics.
 * Updates are counter bumps once per connection or event; anything that changes per read is summed when scraped.
 */
export class MetricsRegistry {
  private readonly families = new Map<string, MetricFamily>();
  private readonly listenerFamilies = new ListenerFamilies();
  private readonly clusters = new Map<string, ClusterMetrics>();

  constructor(options: MetricsOptions = {}) {
    const build = this.register(new GaugeFamily(`${METRIC_PREFIX}build_info`, 'Always 1; the labels name the dsql-proxy and Node.js versions.', ['version', 'node']));
    build.with(options.version ?? 'unknown', process.versions.node).set(1);
    for (const family of this.listenerFamilies.all()) this.register(family);
  }

  /** The ListenerMetrics of one listener, whose series carry `cluster="<id>"` (listeners of one cluster share them). */
  forListener(cluster: string): ListenerMetrics {
    let metrics = this.clusters.get(cluster);
    if (!metrics) {
      metrics = new ClusterMetrics(cluster, this.listenerFamilies);
      this.clusters.set(cluster, metrics);
    }
    return metrics;
  }

  /** A gauge read when scraped (e.g. connections waiting for a dial slot); its name starts with dsql_proxy_. */
  gauge(name: string, help: string, read: () => number): void {
    this.register(new GaugeFamily(name, help)).read([], read);
  }

  /** Adds a family of the caller's; its name must start with dsql_proxy_ and be new. Returns it for chaining. */
  register<F extends MetricFamily>(family: F): F {
    if (!family.name.startsWith(METRIC_PREFIX)) throw new Error(`metric ${family.name} does not start with ${METRIC_PREFIX}`);
    if (this.families.has(family.name)) throw new Error(`metric ${family.name} is registered already`);
    this.families.set(family.name, family);
    return family;
  }

  /** The exposition text (Content-Type text/plain; version=0.0.4): families sorted by name, series by label values. */
  render(): string {
    const names = [...this.families.keys()].sort();
    return names.map((name) => this.families.get(name)!.render()).join('');
  }
}
