import { EXPOSITION_CONTENT_TYPE } from '../metrics/exposition.js';
import type { MetricsRegistry } from '../metrics/registry.js';

/** What the probes report, read at each request. */
export interface HealthSource {
  /** True once every listener is up (/startup). */
  started(): boolean;
  /** /readiness: ready when listening, not draining and below --max-connections; `reason` says why not. */
  readiness(): { ready: boolean; reason?: string };
}

/** What the health server sends back for one request. */
export interface Reply {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
  /** Extra headers (Allow on a 405). */
  readonly headers?: Readonly<Record<string, string>>;
}

const TEXT = 'text/plain; charset=utf-8';
const PATHS = new Set(['/startup', '/liveness', '/readiness', '/metrics']);

/** A plain-text reply. */
const text = (status: number, body: string): Reply => ({ status, body: `${body}\n`, contentType: TEXT });

/**
 * The answer to `method url`: GET and HEAD on the four paths, 405 for other methods there, 404 elsewhere.
 * The query string is ignored (a scraper may add one).
 */
export function answer(method: string | undefined, url: string | undefined, source: HealthSource, metrics: MetricsRegistry): Reply {
  const path = (url ?? '').split('?', 1)[0]!;
  if (!PATHS.has(path)) return text(404, 'not found: the paths are /startup, /liveness, /readiness and /metrics');
  if (method !== 'GET' && method !== 'HEAD') {
    return { ...text(405, 'method not allowed: use GET or HEAD'), headers: { Allow: 'GET, HEAD' } };
  }
  switch (path) {
    case '/startup':
      return source.started() ? text(200, 'started') : text(503, 'starting: not every listener is up yet');
    case '/liveness':
      return text(200, 'alive'); // answering at all proves the event loop turns
    case '/readiness': {
      const { ready, reason } = source.readiness();
      return ready ? text(200, 'ready') : text(503, `not ready: ${reason ?? 'unknown reason'}`);
    }
    default:
      return { status: 200, body: metrics.render(), contentType: EXPOSITION_CONTENT_TYPE };
  }
}
