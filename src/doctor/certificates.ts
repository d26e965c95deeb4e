import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { resolveConfig, type ProxyConfig, type RawOptions, type Route } from '../config.js';
import { certificateNamesOf, checkCertificateNames } from '../upstream/dialer.js';
import type { TlsInspection } from './probes.js';

/** How serving would use a route here: its SNI and the names the certificate must be valid for, or why it cannot be used. */
export type RoutePlan =
  | { readonly route: Route; readonly servername: string | undefined; readonly names: readonly string[] }
  | { readonly route: Route; readonly unusable: string };

/** The judgement of one route's certificate, before it becomes a report line. */
export interface CertificateVerdict {
  readonly ok: boolean;
  readonly value: string;
  readonly remedy?: string | undefined;
}

/** The doctor's id and title for a route's certificate check. */
export function certificateCheckOf(route: Route): { id: string; title: string } {
  return { id: `cert-${route}`, title: `certificate valid for route ${route}` };
}

/**
 * Both routes as serving would configure them from these options (the configured one is `config` itself), so the
 * certificate is judged against exactly the names the dialer would demand.
 */
export function routePlans(raw: RawOptions, config: ProxyConfig): RoutePlan[] {
  return (['sni', 'option'] as const).map((route): RoutePlan => {
    let routeConfig: ProxyConfig;
    try {
      routeConfig = route === config.route ? config : resolveConfig({ ...raw, route });
    } catch (error) {
      return { route, unusable: (error as Error).message };
    }
    // DSQL refuses a connection without SNI, and an IP endpoint gives the option route none to send.
    if (routeConfig.servername === undefined) {
      return { route, unusable: 'the endpoint is an IP address and DSQL refuses a connection without SNI: route option needs the endpoint\'s DNS name' };
    }
    return { route, servername: routeConfig.servername, names: routeConfig.certificateNames };
  });
}

/** Facts about the cluster that tell whether a name on the certificate is one of its DSQL names. */
export interface ClusterFacts {
  readonly clusterId: string;
  readonly region: string;
  readonly serviceIdentifier: string | undefined;
}

/** Judges a completed handshake against the names a route demands: the chain must be trusted and one name must match. */
export function judgeCertificate(names: readonly string[], inspection: TlsInspection, cluster: ClusterFacts): CertificateVerdict {
  const cert = inspection.certificate;
  const problems: string[] = [];
  const remedies: string[] = [];
  if (inspection.chainError) {
    problems.push(`chain not trusted (${inspection.chainError})`);
    remedies.push('Add the CA that issued the endpoint\'s certificate with --ca-file or NODE_EXTRA_CA_CERTS (DSQL chains to Amazon Root CA 1, '
      + 'already trusted; a TLS-inspecting middlebox needs its own CA there).');
  }
  const nameError = checkCertificateNames(names, cert);
  if (nameError) {
    problems.push(nameError.message);
    const suggestion = suggestCertificateName(cert, cluster);
    remedies.push(suggestion
      ? `The certificate carries ${suggestion}, a DSQL name of this cluster: if that is the name the endpoint presents for it, pass --certificate-name ${suggestion}.`
      : 'The endpoint does not present a certificate of this cluster: check that --endpoint is this cluster\'s connection endpoint, and '
        + '--cluster-id, --region and --service-identifier. Never send a token to a server whose certificate is not this cluster\'s.');
  }
  if (problems.length > 0) return { ok: false, value: problems.join('; '), remedy: remedies.join(' ') };
  const matched = names.find((name) => checkServerIdentity(name, cert) === undefined) ?? names[0];
  return { ok: true, value: `valid for ${matched}, chain trusted` };
}

/**
 * A name the certificate is valid for that has the shape of this cluster's DSQL names
 * (`<id>.<service-id>.<region>.on.aws` or `<id>.dsql.<region>.on.aws`; a wildcard filled in with the cluster id).
 */
export function suggestCertificateName(cert: PeerCertificate, cluster: ClusterFacts): string | undefined {
  for (const carried of certificateNamesOf(cert)) {
    const name = (carried.startsWith('*.') ? `${cluster.clusterId}${carried.slice(1)}` : carried).toLowerCase();
    const labels = /^([a-z0-9]+)\.([a-z0-9-]+)\.([a-z0-9-]+)\.on\.aws$/.exec(name);
    if (!labels || labels[1] !== cluster.clusterId || labels[3] !== cluster.region) continue;
    if (labels[2] !== 'dsql' && labels[2] !== cluster.serviceIdentifier) continue;
    if (checkServerIdentity(name, cert) === undefined) return name;
  }
  return undefined;
}

/** The names a certificate carries, for the report. */
export function describeCertificateNames(cert: PeerCertificate): string {
  const names = certificateNamesOf(cert);
  return names.length > 0 ? names.join(', ') : '(no names)';
}
