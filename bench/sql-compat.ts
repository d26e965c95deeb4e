import { proxyPath, type BenchCluster, type BenchPath } from './paths.js';
import type { Protocol } from './pgbench.js';

/** The column of the proxy with the SQL compatibility layer off; the plain dsql-proxy column has it on (the default). */
export const NO_COMPAT = 'dsql-proxy --no-sql-compat';

/**
 * The paths the compat part compares: the layer frames every client message and reads Query and Parse, so the
 * cost can only show between these two (issue 12, "Cost": within 5 % of CPU per transaction).
 */
export const COMPAT_PATHS: readonly string[] = ['dsql-proxy', NO_COMPAT];

/**
 * Every protocol pgbench can speak, so Parse/Bind/Execute groups (extended: a Parse per transaction; prepared: a
 * Parse per connection, then Bind/Execute only) are measured beside one Query message per transaction.
 */
export const COMPAT_PROTOCOLS: readonly Protocol[] = ['simple', 'extended', 'prepared'];

/** The proxy started with --no-sql-compat: every byte relayed as the client sent it. */
export function noCompatPath(cluster: BenchCluster): Promise<BenchPath> {
  return proxyPath(cluster, ['--no-sql-compat'], { name: NO_COMPAT, conninfo: 'sslmode=disable', env: {} });
}

/** The metric-key suffix of a protocol: none for simple, so the select part's cpu8/tps8 are the simple figures. */
export function protocolSuffix(protocol: Protocol): string {
  return protocol === 'simple' ? '' : protocol[0]!.toUpperCase() + protocol.slice(1);
}
