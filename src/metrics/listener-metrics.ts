import type { ListenerMetrics, RelayBytes } from '../proxy/ports.js';
import { CounterFamily, GaugeFamily, type Counter, type MetricFamily } from './families.js';
import { HistogramFamily, type Histogram } from './histogram.js';

/** Outcomes that are neither a refusal nor a failure: the client got what it came for (cancels have their own counters). */
const NEUTRAL_OUTCOMES = new Set(['relayed', 'probe', 'cancel-forwarded', 'cancel-dropped', 'cancel-failed']);
/** Outcomes that carry the SQLSTATE the client was sent as their reason. */
const SQLSTATE_OUTCOMES = new Map<string, 'refused' | 'failed'>([['refused', 'refused'], ['rejected-by-server', 'failed'], ['failed', 'failed']]);
/** Outcomes without a SQLSTATE: the outcome names the cause. */
const NAMED_FAILURES = new Set(['tls-failed', 'client-gone', 'shutdown']);
/** The outcome label keeps to these characters so a typo cannot make unbounded series. */
const OUTCOME_LABEL = /^[a-z][a-z-]{0,31}$/;

/**
 * A SQLSTATE as a label value: five digits or upper-case letters as they are, else its two-character class as
 * `XX000` (PostgreSQL's spelling of a class's generic code), else `other`; this keeps the number of series bounded.
 */
export function sqlstateReason(sqlstate: string | undefined): string {
  if (sqlstate === undefined) return 'other';
  if (/^[0-9A-Z]{5}$/.test(sqlstate)) return sqlstate;
  const upper = sqlstate.toUpperCase();
  return /^[0-9A-Z]{2}/.test(upper) ? `${upper.slice(0, 2)}000` : 'other';
}

/** Which counter a closed connection adds to, and with which reason; undefined for neutral outcomes. */
export function closeCause(outcome: string, sqlstate?: string): { readonly kind: 'refused' | 'failed'; readonly reason: string } | undefined {
  if (NEUTRAL_OUTCOMES.has(outcome)) return undefined;
  const kind = SQLSTATE_OUTCOMES.get(outcome);
  if (kind) return { kind, reason: sqlstateReason(sqlstate) };
  return { kind: 'failed', reason: NAMED_FAILURES.has(outcome) ? outcome : 'other' };
}

/** The per-listener families; every series carries `cluster`. */
export class ListenerFamilies {
  readonly accepted = new CounterFamily('dsql_proxy_connections_accepted_total', 'Client connections accepted (including cancel requests and probes).', ['cluster']);
  readonly active = new GaugeFamily('dsql_proxy_connections_active', 'Client connections accepted and not yet closed.', ['cluster']);
  readonly closed = new CounterFamily('dsql_proxy_connections_closed_total', 'Client connections closed, by outcome (relayed, refused, failed, rejected-by-server, tls-failed, client-gone, shutdown, probe, cancel-forwarded, cancel-dropped, cancel-failed).', ['cluster', 'outcome']);
  readonly refused = new CounterFamily('dsql_proxy_connections_refused_total', 'Client connections the proxy refused before dialing (authentication, access rules, --max-connections), by the SQLSTATE sent to the client (e.g. 28P01, 28000, 53300).', ['cluster', 'reason']);
  readonly failed = new CounterFamily('dsql_proxy_connections_failed_total', 'Client connections that ended before relaying for another cause: reason is the SQLSTATE the client was sent when the proxy could not connect or the server refused the login (e.g. 08001, 53400, 28000), or tls-failed (client TLS handshake), client-gone (the client left during set-up), shutdown (the proxy stopped), other.', ['cluster', 'reason']);
  readonly bytesReceived = new CounterFamily('dsql_proxy_client_bytes_received_total', 'Bytes read from clients and relayed to the server (relays in progress included).', ['cluster']);
  readonly bytesSent = new CounterFamily('dsql_proxy_client_bytes_sent_total', 'Bytes read from the server and relayed to clients (relays in progress included).', ['cluster']);
  readonly relays = new GaugeFamily('dsql_proxy_relays_active', 'Sessions past their login, relaying bytes.', ['cluster']);
  readonly connectSeconds = new HistogramFamily('dsql_proxy_upstream_connect_seconds', 'Time to reach the endpoint: DNS, TCP and TLS.', ['cluster']);
  readonly loginSeconds = new HistogramFamily('dsql_proxy_upstream_login_seconds', 'Time of the IAM login at the server, from sending the token to ReadyForQuery.', ['cluster']);
  readonly tokenFailures = new CounterFamily('dsql_proxy_token_signing_failures_total', 'IAM token signatures that failed (credential source error or timeout).', ['cluster']);
  readonly cancelsForwarded = new CounterFamily('dsql_proxy_cancels_forwarded_total', 'Cancel requests forwarded to the server.', ['cluster']);
  readonly cancelsDropped = new CounterFamily('dsql_proxy_cancels_dropped_total', 'Cancel requests not forwarded: unknown key, too frequent, or the dial failed.', ['cluster']);

  /** Every family, for the registry. */
  all(): MetricFamily[] {
    return [this.accepted, this.active, this.closed, this.refused, this.failed, this.bytesReceived, this.bytesSent, this.relays,
      this.connectSeconds, this.loginSeconds, this.tokenFailures, this.cancelsForwarded, this.cancelsDropped];
  }
}

/** The metrics of one cluster id, shared by every listener serving it. */
export class ClusterMetrics implements ListenerMetrics {
  private readonly acceptedCount: Counter;
  private closedCount = 0;
  private readonly connectSeconds: Histogram;
  private readonly loginSeconds: Histogram;
  private readonly tokenFailures: Counter;
  private readonly cancelsForwarded: Counter;
  private readonly cancelsDropped: Counter;
  /** Relays in progress; their counters are read only when scraped. */
  private readonly live = new Set<RelayBytes>();
  private endedFromClient = 0;
  private endedToClient = 0;

  constructor(private readonly cluster: string, private readonly families: ListenerFamilies) {
    this.acceptedCount = families.accepted.with(cluster);
    families.active.read([cluster], () => this.acceptedCount.value - this.closedCount);
    families.bytesReceived.read([cluster], () => this.sum('fromClient', this.endedFromClient));
    families.bytesSent.read([cluster], () => this.sum('toClient', this.endedToClient));
    families.relays.read([cluster], () => this.live.size);
    this.connectSeconds = families.connectSeconds.with(cluster);
    this.loginSeconds = families.loginSeconds.with(cluster);
    this.tokenFailures = families.tokenFailures.with(cluster);
    this.cancelsForwarded = families.cancelsForwarded.with(cluster);
    this.cancelsDropped = families.cancelsDropped.with(cluster);
  }

  connectionAccepted(): void {
    this.acceptedCount.inc();
  }

  connectionClosed(outcome: string, sqlstate?: string): void {
    this.closedCount++;
    this.families.closed.with(this.cluster, OUTCOME_LABEL.test(outcome) ? outcome : 'other').inc();
    const cause = closeCause(outcome, sqlstate);
    if (cause) this.families[cause.kind].with(this.cluster, cause.reason).inc();
  }

  upstreamConnected(seconds: number): void {
    this.connectSeconds.observe(seconds);
  }

  upstreamLoggedIn(seconds: number): void {
    this.loginSeconds.observe(seconds);
  }

  tokenSigningFailed(): void {
    this.tokenFailures.inc();
  }

  cancel(forwarded: boolean): void {
    (forwarded ? this.cancelsForwarded : this.cancelsDropped).inc();
  }

  relaying(bytes: RelayBytes): () => void {
    this.live.add(bytes);
    let ended = false;
    return () => {
      if (ended) return; // a second call must not count the relay's bytes twice
      ended = true;
      this.live.delete(bytes);
      this.endedFromClient += bytes.fromClient;
      this.endedToClient += bytes.toClient;
    };
  }

  /** Bytes of ended relays plus the live counters of relays in progress, summed now (at scrape time). */
  private sum(field: keyof RelayBytes, ended: number): number {
    let total = ended;
    for (const bytes of this.live) total += bytes[field];
    return total;
  }
}
