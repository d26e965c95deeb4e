import { isIP } from 'node:net';

/** A host and port as given on the command line. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** What an endpoint's DNS name tells about the cluster's location. */
export interface EndpointNameFacts {
  readonly region?: string;
  readonly serviceIdentifier?: string;
  readonly clusterId?: string;
}

/**
 * Parses `host[:port]`; IPv6 literals go in brackets (`[fd00::1]:5432`).
 * Returns an error text (no flag name) when the value is not usable.
 */
export function parseHostPort(value: string, defaultPort: number): HostPort | string {
  const trimmed = value.trim();
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(trimmed);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
  } else if (isIP(trimmed) === 6) {
    host = trimmed;
  } else {
    const colon = trimmed.lastIndexOf(':');
    host = colon >= 0 ? trimmed.slice(0, colon) : trimmed;
    portText = colon >= 0 ? trimmed.slice(colon + 1) : undefined;
  }
  if (host === '') return `"${value}" has no host`;
  if (!bracketed && isIP(trimmed) !== 6 && host.includes(':')) return `"${value}": put an IPv6 address in brackets, e.g. [${host}]:5432`;
  // getaddrinfo would read "10.0.1" or "6432.5" as some address or fail late; neither is meant.
  if (!isIP(host) && /^[\d.]+$/.test(host)) return `"${host}" is not an IP address`;
  if (!isIP(host) && !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/.test(host)) {
    return `"${host}" is neither a DNS name nor an IP address`;
  }
  if (portText === undefined) return { host, port: defaultPort };
  const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 0 && port <= 65535)) return `"${portText}" is not a port number (0-65535)`;
  return { host, port };
}

const VPCE_SUFFIXES = ['.vpce.amazonaws.com', '.vpce.amazonaws.com.cn'];
const ON_AWS_SUFFIX = '.on.aws';

/**
 * Reads region and service identifier from a PrivateLink endpoint name
 * (`vpce-<id>-<suffix>.<service-id>.<region>.vpce.amazonaws.com`), or region, service identifier
 * and cluster id from a private DNS name (`<cluster-id>.<service-id>.<region>.on.aws`).
 * Anything else (an IP, another name) tells nothing.
 */
export function parseEndpointName(host: string): EndpointNameFacts {
  const name = host.toLowerCase().replace(/\.$/, '');
  const vpceSuffix = VPCE_SUFFIXES.find((s) => name.endsWith(s));
  if (vpceSuffix) {
    const labels = name.slice(0, -vpceSuffix.length).split('.');
    if (labels.length === 3 && labels[0]!.startsWith('vpce-')) {
      return { serviceIdentifier: labels[1]!, region: labels[2]! };
    }
    return {};
  }
  if (name.endsWith(ON_AWS_SUFFIX)) {
    const labels = name.slice(0, -ON_AWS_SUFFIX.length).split('.');
    if (labels.length === 3 && labels[1] !== 'dsql') {
      return { clusterId: labels[0]!, serviceIdentifier: labels[1]!, region: labels[2]! };
    }
  }
  return {};
}

/** The name DSQL's certificate carries for a cluster behind a PrivateLink service: `<id>.<service-id>.<region>.on.aws`. */
export function privateClusterHostname(clusterId: string, serviceIdentifier: string, region: string): string {
  return `${clusterId}.${serviceIdentifier}.${region}.on.aws`;
}

/** The token hostname of AWS's no-DNS recipe: `<id>.dsql.<region>.on.aws`. */
export function publicClusterHostname(clusterId: string, region: string): string {
  return `${clusterId}.dsql.${region}.on.aws`;
}

/** The SNI of the option route: the endpoint's own name (no trailing dot), none for an IP address. */
export function optionRouteServername(host: string): string | undefined {
  return isIP(host) ? undefined : host.replace(/\.$/, '');
}
