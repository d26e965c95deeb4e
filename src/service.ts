import { isLoopbackHost } from './access-config.js';
import { createCredentials } from './aws/credentials.js';
import type { CredentialSource } from './aws/token.js';
import type { ClientAccess } from './client/access.js';
import type { ProxyConfig } from './config.js';
import { startHealthServer, type HealthServer } from './http/health-server.js';
import { createLogger } from './log.js';
import { packageVersion } from './version.js';
import { MetricsRegistry } from './metrics/registry.js';
import { ConnectRateLimiter } from './proxy/connect-rate.js';
import { ConnectionSlots } from './proxy/connection-slots.js';
import { systemClock, type Clock, type Logger } from './proxy/ports.js';
import { startProxy, type RunningProxy } from './run.js';
import { clusterKey, formatHostPort, type ServiceConfig } from './service-config.js';

/** One listener ready to start: validated settings and its client access already loaded. */
export interface ListenerPlan {
  readonly config: ProxyConfig;
  readonly access: ClientAccess;
  /** --max-connect-rate of its cluster. */
  readonly connectRate: number;
}

/** Everything the process serves, validated before anything listens. */
export interface ServicePlan {
  readonly service: ServiceConfig;
  readonly listeners: readonly ListenerPlan[];
}

/** Pieces tests may supply instead of the real ones (applied to every listener). */
export interface ServiceOverrides {
  readonly logger?: Logger;
  readonly credentials?: CredentialSource;
  readonly clock?: Clock;
  readonly resolve?: (host: string) => Promise<string[]>;
}

/** A listener (or the --http-listen server, `listener` undefined) could not start; the others were closed. */
export class StartError extends Error {
  /** The system error code (EADDRINUSE, EACCES, …), for the hint. */
  readonly code: string | undefined;

  constructor(readonly listener: number | undefined, readonly config: ProxyConfig | undefined, override readonly cause: Error) {
    super(cause.message, { cause });
    this.name = 'StartError';
    this.code = (cause as NodeJS.ErrnoException).code;
  }
}

/** A process serving every listener of its plan. */
export interface RunningService {
  readonly logger: Logger;
  /** The listeners, in the plan's order. */
  readonly listeners: readonly RunningProxy[];
  /** The --http-listen server, when one was asked for. */
  readonly http: HealthServer | undefined;
  /** True once drain or close has begun (/readiness answers 503). */
  readonly draining: boolean;
  /** Re-reads every listener's --auth-file (SIGHUP). */
  reload(): void;
  /** Readiness turns 503, every listener stops accepting and drains for --max-sigterm-delay; then the HTTP server closes. */
  drain(): Promise<void>;
  /** Closes every listener and connection at once, then the HTTP server. */
  close(): Promise<void>;
}

/**
 * Composition root of the process: one independent ProxyServer per listener, sharing the credentials of each profile,
 * the --max-connections budget, a --max-connect-rate queue per cluster, and the metrics registry the HTTP server
 * reads. The HTTP server starts first, so /startup answers 503 until every listener is up.
 */
export async function startService(plan: ServicePlan, overrides: ServiceOverrides = {}): Promise<RunningService> {
  const { service } = plan;
  const logger = overrides.logger ?? createLogger(service.logLevel);
  const clock = overrides.clock ?? systemClock;
  const registry = new MetricsRegistry({ version: packageVersion() });
  const slots = new ConnectionSlots(service.maxConnections);
  const limiters = new Map<string, ConnectRateLimiter>();
  const credentials = new Map<string | undefined, CredentialSource>();
  let started = false;
  let draining = false;

  registry.gauge('dsql_proxy_draining', '1 once SIGTERM or SIGINT began draining the listeners', () => (draining ? 1 : 0));
  registry.gauge('dsql_proxy_max_connections', 'the --max-connections limit of the process (0 = none)', () => slots.max);
  registry.gauge('dsql_proxy_connect_queue_waiting', 'new upstream connections waiting for --max-connect-rate',
    () => [...limiters.values()].reduce((sum, limiter) => sum + limiter.waiting, 0));

  const readiness = (): { ready: boolean; reason?: string } => {
    if (!started) return { ready: false, reason: 'starting' };
    if (draining) return { ready: false, reason: 'draining' };
    if (slots.full) return { ready: false, reason: `--max-connections ${slots.max} reached` };
    return { ready: true };
  };

  let http: HealthServer | undefined;
  if (service.httpListen) {
    try {
      http = await startHealthServer(service.httpListen, { started: () => started, readiness }, registry, logger);
    } catch (error) {
      throw new StartError(undefined, undefined, error as Error);
    }
    logger.info({ http: formatHostPort(http.address) }, 'serving /startup, /liveness, /readiness and /metrics');
    if (!isLoopbackHost(service.httpListen.host)) {
      // Unlike a PostgreSQL listener beyond loopback (which needs client authentication), nothing stops this start.
      logger.warn({ http: formatHostPort(http.address) }, '/metrics and the probes answer without authentication anyone who can reach '
        + 'this address (cluster ids, connection counts, readiness): bind --http-listen to loopback, or firewall the port to the scraper');
    }
  }
  let httpClosed: Promise<void> | undefined;
  const closeHttp = (): Promise<void> => (httpClosed ??= http?.close() ?? Promise.resolve());

  const listeners: RunningProxy[] = [];
  const several = plan.listeners.length > 1;
  for (const [index, { config, access, connectRate }] of plan.listeners.entries()) {
    const key = clusterKey(config);
    let limiter = limiters.get(key);
    if (!limiter) limiters.set(key, limiter = new ConnectRateLimiter(connectRate, clock));
    let source = overrides.credentials ?? credentials.get(config.profile);
    if (!source) credentials.set(config.profile, source = createCredentials(config.profile));
    try {
      listeners.push(await startProxy(config, {
        logger: several ? logger.child({ listener: index }) : logger,
        credentials: source,
        clock,
        access,
        metrics: registry.forListener(config.clusterId),
        slots,
        connectRate: limiter,
        ...(overrides.resolve ? { resolve: overrides.resolve } : {}),
      }));
    } catch (error) {
      await Promise.all(listeners.map((listener) => listener.close()));
      await closeHttp();
      throw new StartError(index, config, error as Error);
    }
  }
  started = true;

  return {
    logger,
    listeners,
    http,
    get draining() { return draining; },
    reload: () => { for (const listener of listeners) listener.reload(); },
    drain: async () => {
      draining = true;
      const open = listeners.reduce((sum, listener) => sum + listener.server.openConnections, 0);
      logger.info({ open, maxSigtermDelaySeconds: service.maxSigtermDelayMs / 1000 }, 'draining');
      await Promise.all(listeners.map((listener) => listener.drain(service.maxSigtermDelayMs)));
      await closeHttp();
    },
    close: async () => {
      draining = true;
      await Promise.all(listeners.map((listener) => listener.close()));
      await closeHttp();
    },
  };
}
