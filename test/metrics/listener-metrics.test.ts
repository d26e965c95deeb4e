import { describe, expect, it } from 'vitest';
import { closeCause, sqlstateReason } from '../../src/metrics/listener-metrics.js';
import { MetricsRegistry } from '../../src/metrics/registry.js';

/** The value of the sample line starting with `series ` in a rendered text, or undefined when absent. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('listener metrics', () => {
  it('gives two listeners of one cluster the same series, and another cluster its own', () => {
    const registry = new MetricsRegistry();
    const first = registry.forListener('abc');
    const second = registry.forListener('abc');
    first.connectionAccepted();
    second.connectionAccepted();
    registry.forListener('xyz').connectionAccepted();
    const text = registry.render();
    expect(value(text, 'dsql_proxy_connections_accepted_total{cluster="abc"}')).toBe(2);
    expect(value(text, 'dsql_proxy_connections_accepted_total{cluster="xyz"}')).toBe(1);
  });

  it('counts active connections as accepted minus closed', () => {
    const registry = new MetricsRegistry();
    const m = registry.forListener('abc');
    m.connectionAccepted();
    m.connectionAccepted();
    m.connectionAccepted();
    m.connectionClosed('relayed');
    expect(value(registry.render(), 'dsql_proxy_connections_active{cluster="abc"}')).toBe(2);
    expect(value(registry.render(), 'dsql_proxy_connections_closed_total{cluster="abc",outcome="relayed"}')).toBe(1);
  });

  it('counts a refusal under its SQLSTATE and a failure under the SQLSTATE or the cause', () => {
    const registry = new MetricsRegistry();
    const m = registry.forListener('abc');
    m.connectionClosed('refused', '28P01');
    m.connectionClosed('refused', '53300');
    m.connectionClosed('refused', '53300');
    m.connectionClosed('rejected-by-server', '28000');
    m.connectionClosed('failed', '08001');
    m.connectionClosed('tls-failed');
    m.connectionClosed('client-gone');
    m.connectionClosed('shutdown');
    const text = registry.render();
    expect(value(text, 'dsql_proxy_connections_refused_total{cluster="abc",reason="28P01"}')).toBe(1);
    expect(value(text, 'dsql_proxy_connections_refused_total{cluster="abc",reason="53300"}')).toBe(2);
    for (const reason of ['28000', '08001', 'tls-failed', 'client-gone', 'shutdown']) {
      expect(value(text, `dsql_proxy_connections_failed_total{cluster="abc",reason="${reason}"}`)).toBe(1);
    }
    expect(text).not.toContain('dsql_proxy_connections_failed_total{cluster="abc",reason="28P01"}');
  });

  it('counts relayed sessions, probes and cancels as neither refused nor failed', () => {
    const registry = new MetricsRegistry();
    const m = registry.forListener('abc');
    for (const outcome of ['relayed', 'probe', 'cancel-forwarded', 'cancel-dropped', 'cancel-failed']) m.connectionClosed(outcome);
    const text = registry.render();
    expect(text).not.toMatch(/^dsql_proxy_connections_(refused|failed)_total\{/m);
  });

  it('keeps reason labels bounded: malformed SQLSTATEs fall to their class or "other", unknown outcomes to "other"', () => {
    expect(sqlstateReason('28P01')).toBe('28P01');
    expect(sqlstateReason('28p01')).toBe('28000');
    expect(sqlstateReason('0')).toBe('other');
    expect(sqlstateReason(undefined)).toBe('other');
    expect(sqlstateReason('\n"x')).toBe('other');
    expect(closeCause('failed', 'something long and free-form')).toEqual({ kind: 'failed', reason: 'SO000' });
    expect(closeCause('refused')).toEqual({ kind: 'refused', reason: 'other' });
    expect(closeCause('a-new-outcome')).toEqual({ kind: 'failed', reason: 'other' });
    const registry = new MetricsRegistry();
    registry.forListener('abc').connectionClosed('Not An Outcome {}');
    expect(value(registry.render(), 'dsql_proxy_connections_closed_total{cluster="abc",outcome="other"}')).toBe(1);
  });

  it('counts bytes of live relays when scraped, then folds them in at the end without counting them twice', () => {
    const registry = new MetricsRegistry();
    const m = registry.forListener('abc');
    const received = 'dsql_proxy_client_bytes_received_total{cluster="abc"}';
    const sent = 'dsql_proxy_client_bytes_sent_total{cluster="abc"}';
    const one = { fromClient: 0, toClient: 0 };
    const two = { fromClient: 0, toClient: 0 };
    const endOne = m.relaying(one);
    const endTwo = m.relaying(two);
    one.fromClient = 100; // the relay bumps its own fields; the registry reads them only when scraped
    one.toClient = 1000;
    two.fromClient = 5;
    expect(value(registry.render(), received)).toBe(105);
    expect(value(registry.render(), sent)).toBe(1000);
    expect(value(registry.render(), 'dsql_proxy_relays_active{cluster="abc"}')).toBe(2);
    one.fromClient = 150;
    endOne();
    endOne();
    one.fromClient = 9999; // after the end the object is no longer read
    expect(value(registry.render(), received)).toBe(155);
    expect(value(registry.render(), 'dsql_proxy_relays_active{cluster="abc"}')).toBe(1);
    two.toClient = 7;
    endTwo();
    const text = registry.render();
    expect(value(text, received)).toBe(155);
    expect(value(text, sent)).toBe(1007);
    expect(value(text, 'dsql_proxy_relays_active{cluster="abc"}')).toBe(0);
  });

  it('records connect and login times in their histograms, and token failures and cancels in their counters', () => {
    const registry = new MetricsRegistry();
    const m = registry.forListener('abc');
    m.upstreamConnected(0.02);
    m.upstreamLoggedIn(0.3);
    m.upstreamLoggedIn(12);
    m.tokenSigningFailed();
    m.cancel(true);
    m.cancel(false);
    m.cancel(false);
    const text = registry.render();
    expect(value(text, 'dsql_proxy_upstream_connect_seconds_bucket{cluster="abc",le="0.01"}')).toBe(0);
    expect(value(text, 'dsql_proxy_upstream_connect_seconds_bucket{cluster="abc",le="0.025"}')).toBe(1);
    expect(value(text, 'dsql_proxy_upstream_login_seconds_bucket{cluster="abc",le="10"}')).toBe(1);
    expect(value(text, 'dsql_proxy_upstream_login_seconds_bucket{cluster="abc",le="+Inf"}')).toBe(2);
    expect(value(text, 'dsql_proxy_upstream_login_seconds_count{cluster="abc"}')).toBe(2);
    expect(value(text, 'dsql_proxy_token_signing_failures_total{cluster="abc"}')).toBe(1);
    expect(value(text, 'dsql_proxy_cancels_forwarded_total{cluster="abc"}')).toBe(1);
    expect(value(text, 'dsql_proxy_cancels_dropped_total{cluster="abc"}')).toBe(2);
  });

  it('shows a registered cluster at zero before its first connection, so dashboards see it', () => {
    const registry = new MetricsRegistry();
    registry.forListener('quiet');
    const text = registry.render();
    expect(value(text, 'dsql_proxy_connections_accepted_total{cluster="quiet"}')).toBe(0);
    expect(value(text, 'dsql_proxy_client_bytes_received_total{cluster="quiet"}')).toBe(0);
    expect(value(text, 'dsql_proxy_upstream_connect_seconds_count{cluster="quiet"}')).toBe(0);
  });
});
