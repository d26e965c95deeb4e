import type { HostPort } from '../endpoint.js';
import type { MetricsRegistry } from '../metrics/registry.js';
import type { Logger } from '../proxy/ports.js';

/** What the probes report, read at each request. */
export interface HealthSource {
  /** True once every listener is up (/startup). */
  started(): boolean;
  /** /readiness: ready when listening, not draining and below --max-connections; `reason` says why not. */
  readiness(): { ready: boolean; reason?: string };
}

/** A listening --http-listen server. */
export interface HealthServer {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: HostPort;
  /** Stops listening and closes its connections. */
  close(): Promise<void>;
}

/**
 * Serves /startup, /liveness, /readiness and /metrics on `address` (node:http).
 * STUB: the metrics change fills it in.
 */
export async function startHealthServer(address: HostPort, source: HealthSource, metrics: MetricsRegistry, log: Logger): Promise<HealthServer> {
  void source; void metrics; void log;
  return { address, close: async () => undefined };
}
