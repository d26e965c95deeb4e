import { get } from 'node:http';
import { freePort } from '../test/support/postgres.js';
import { proxyPath, type BenchCluster, type BenchPath } from './paths.js';

/** How often the bench scrapes /metrics: far more often than Prometheus' default 15 s, to make any cost show. */
const SCRAPE_INTERVAL_MS = 1_000;

/**
 * The proxy with --http-listen on and /metrics scraped every second during the run, for the relay figures: beside
 * the plain dsql-proxy column it shows what the counters cost per transaction (bytes are counted per read, the rest
 * per connection, so it should be nothing measurable).
 */
export async function metricsPath(cluster: BenchCluster): Promise<BenchPath> {
  const port = await freePort();
  const path = await proxyPath(cluster, ['--http-listen', `127.0.0.1:${port}`], { name: 'dsql-proxy+metrics', conninfo: 'sslmode=disable', env: {} });
  let scrapes = 0;
  const timer = setInterval(() => {
    get({ host: '127.0.0.1', port, path: '/metrics' }, (response) => {
      response.resume();
      response.once('end', () => { scrapes++; });
    }).once('error', () => undefined);
  }, SCRAPE_INTERVAL_MS);
  return {
    ...path,
    stop: async () => {
      clearInterval(timer);
      if (scrapes === 0) throw new Error('the bench never scraped /metrics');
      await path.stop();
    },
  };
}
