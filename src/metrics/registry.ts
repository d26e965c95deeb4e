import { NO_METRICS, type ListenerMetrics } from '../proxy/ports.js';

/**
 * Every metric of the process, rendered in the Prometheus text exposition format for /metrics.
 * STUB: the metrics change fills it in.
 */
export class MetricsRegistry {
  /** The ListenerMetrics of one listener, whose series carry `cluster="<id>"` (listeners of one cluster share them). */
  forListener(cluster: string): ListenerMetrics {
    void cluster;
    return NO_METRICS;
  }

  /** A gauge read when scraped (e.g. connections waiting for a dial slot). */
  gauge(name: string, help: string, read: () => number): void {
    void name; void help; void read;
  }

  /** The exposition text (Content-Type text/plain; version=0.0.4). */
  render(): string {
    return '';
  }
}
