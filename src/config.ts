import { isIP } from 'node:net';
import { AccessConfigError, resolveAccessConfig, type AccessConfig, type RawAccessOptions } from './access-config.js';
import {
  type HostPort, optionRouteServername, parseEndpointName, parseHostPort, privateClusterHostname, publicClusterHostname,
} from './endpoint.js';

/** How the proxy reaches the cluster through the endpoint; see README "Routes". */
export type Route = 'sni' | 'option';

/**
 * How TLS starts on each upstream connection: `direct` sends the ClientHello at once with ALPN "postgresql"
 * (PostgreSQL 17 style, one round trip fewer); `postgres` sends an SSLRequest first and waits for 'S'.
 */
export const SSL_NEGOTIATIONS = ['direct', 'postgres'] as const;
/** One of SSL_NEGOTIATIONS. */
export type SslNegotiation = (typeof SSL_NEGOTIATIONS)[number];

/** pino level names accepted by `--log-level`. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
/** One of LOG_LEVELS. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options as the command line and environment give them, before validation. */
export interface RawOptions extends RawAccessOptions {
  clusterId?: string | undefined;
  endpoint?: string | undefined;
  route?: string | undefined;
  region?: string | undefined;
  serviceIdentifier?: string | undefined;
  injectClusterId?: boolean | undefined;
  sslNegotiation?: string | undefined;
  caFile?: string | undefined;
  tokenHostname?: string | undefined;
  /** Explicit name the upstream certificate must be valid for. */
  certificateName?: string | undefined;
  /** Seconds, as typed (a string from the command line) or a number. */
  tokenExpires?: string | number | undefined;
  profile?: string | undefined;
  listen?: string | undefined;
  connectTimeout?: string | number | undefined;
  startupTimeout?: string | number | undefined;
  /** Pass the client's database name on instead of `postgres`. */
  keepDatabase?: boolean | undefined;
  /** Keep settings DSQL refuses away from it (--no-sql-compat turns it off). */
  sqlCompat?: boolean | undefined;
  logLevel?: string | undefined;
  /** Management API endpoint (a management VPC endpoint URL). */
  endpointUrl?: string | undefined;
  /** --max-connect-rate as typed (validated by service-config's parseConnectRate). */
  maxConnectRate?: string | number | undefined;
  /** Region from the environment (AWS_REGION / AWS_DEFAULT_REGION), used when neither a flag nor a name gives one. */
  ambientRegion?: string | undefined;
}

/** Everything the proxy needs, validated. Immutable. */
export interface ProxyConfig {
  /** DSQL cluster identifier. */
  readonly clusterId: string;
  /** The PrivateLink endpoint (vpce name or IP) dialled for every connection. */
  readonly endpoint: HostPort;
  readonly region: string;
  /** PrivateLink service identifier (`dsql-xxxx`); absent only on the option route. */
  readonly serviceIdentifier: string | undefined;
  readonly route: Route;
  /**
   * Whether `-c amzn-cluster-id=<id>` is appended to the client's options: by default only on the option route,
   * since AWS's private-DNS recipe (route sni) sends no such option.
   */
  readonly injectClusterId: boolean;
  /** Whether upstream TLS starts directly or after an SSLRequest. */
  readonly sslNegotiation: SslNegotiation;
  /** TLS SNI sent upstream: the cluster's private DNS name (route sni) or the vpce name (route option). */
  readonly servername: string;
  /**
   * Names of this cluster the server certificate may be valid for (at least one must match, never empty):
   * `--certificate-name` when given; else `<id>.<service-id>.<region>.on.aws` and, on the option route,
   * also `<id>.dsql.<region>.on.aws`.
   */
  readonly certificateNames: readonly string[];
  /** Hostname the IAM token is signed for. */
  readonly tokenHostname: string;
  /** Token lifetime in seconds. */
  readonly tokenExpiresSeconds: number;
  /** Extra CA bundle (PEM) trusted besides Node's default store. */
  readonly caFile: string | undefined;
  /** AWS shared-config profile for credentials. */
  readonly profile: string | undefined;
  /** Whether the client's database name goes upstream as asked; otherwise every session asks for `postgres`. */
  readonly keepDatabase: boolean;
  /** The SQL compatibility layer: settings DSQL refuses are kept out of the StartupMessage. */
  readonly sqlCompat: boolean;
  /** Local address to accept clients on. */
  readonly listen: HostPort;
  /** Who may connect through the listeners and how they prove it. */
  readonly access: AccessConfig;
  /** Deadline for reaching the endpoint and completing TLS and authentication. */
  readonly connectTimeoutMs: number;
  /** Deadline for a client to send its StartupMessage. */
  readonly startupTimeoutMs: number;
  readonly logLevel: LogLevel;
  /** Management API endpoint URL; undefined means the SDK's regional default. */
  readonly endpointUrl: string | undefined;
}

/** What the management commands need. */
export interface ManagementConfig {
  readonly region: string;
  readonly endpointUrl: string | undefined;
  readonly profile: string | undefined;
}

/** An invalid or missing option; `flag` names it as the user typed it (e.g. `--endpoint`). */
export class ConfigError extends Error {
  /** The offending flag. */
  readonly flag: string;

  constructor(flag: string, message: string) {
    super(`${flag}: ${message}`);
    this.name = 'ConfigError';
    this.flag = flag;
  }
}

/** Defaults applied when neither a flag nor an environment variable gives a value. */
export const DEFAULTS = {
  route: 'sni' as Route,
  sslNegotiation: 'direct' as SslNegotiation,
  listen: '127.0.0.1:5432',
  port: 5432,
  connectTimeoutSeconds: 10,
  startupTimeoutSeconds: 10,
  tokenExpiresSeconds: 900,
  logLevel: 'info' as LogLevel,
};

const MAX_TOKEN_EXPIRES_SECONDS = 604_800;
const CLUSTER_ID = /^[a-z0-9]+$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const SERVICE_IDENTIFIER = /^[a-z0-9][a-z0-9-]*$/;
const DNS_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+\.?$/;

/** Validates raw options into a ProxyConfig, deriving region, service identifier and names. No I/O. */
export function resolveConfig(raw: RawOptions): ProxyConfig {
  const endpointText = required(raw.endpoint, '--endpoint', 'the PrivateLink endpoint, e.g. vpce-….dsql-xxxx.us-east-1.vpce.amazonaws.com');
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(endpointText);
  if (scheme) throw new ConfigError('--endpoint', `give a host name or IP, not a URL: drop "${scheme[0]}" from "${endpointText}"`);
  const endpoint = hostPort(endpointText, '--endpoint', DEFAULTS.port);
  const facts = parseEndpointName(endpoint.host);

  const clusterId = (raw.clusterId ?? facts.clusterId)?.trim().toLowerCase();
  if (!clusterId) throw new ConfigError('--cluster-id', 'required: the cluster identifier (aws dsql list-clusters)');
  if (!CLUSTER_ID.test(clusterId)) throw new ConfigError('--cluster-id', `"${clusterId}" is not a cluster identifier (lowercase letters and digits)`);

  const route = raw.route ?? DEFAULTS.route;
  if (route !== 'sni' && route !== 'option') throw new ConfigError('--route', `"${route}" is not a route: use sni or option`);

  const endpointIsIp = isIP(endpoint.host) !== 0;
  if (route === 'option' && endpointIsIp) {
    // The option route's SNI is the vpce name, and DSQL refuses a connection without SNI.
    throw new ConfigError('--route', `option needs the endpoint's DNS name (vpce-….vpce.amazonaws.com) as TLS SNI, and DSQL refuses connections without SNI; `
      + `"${endpoint.host}" is an IP address: use --route sni, or give the endpoint's DNS name in --endpoint`);
  }

  const region = raw.region?.trim() || facts.region || regionOfEndpointUrl(raw.endpointUrl) || raw.ambientRegion?.trim();
  if (!region) {
    throw new ConfigError('--region', `required: it cannot be read from the endpoint "${endpoint.host}"${endpointIsIp ? ' (an IP address)' : ''}`);
  }
  if (!REGION.test(region)) throw new ConfigError('--region', `"${region}" is not an AWS region name (e.g. us-east-1)`);

  const serviceIdentifier = raw.serviceIdentifier?.trim() || facts.serviceIdentifier;
  if (serviceIdentifier !== undefined && !SERVICE_IDENTIFIER.test(serviceIdentifier)) {
    throw new ConfigError('--service-identifier', `"${serviceIdentifier}" is not a service identifier (e.g. dsql-fnh4)`);
  }
  if (route === 'sni' && !serviceIdentifier) {
    throw new ConfigError('--service-identifier', `required with --route sni: it cannot be read from the endpoint "${endpoint.host}" (aws dsql get-vpc-endpoint-service-name --identifier ${clusterId}, last part of the name)`);
  }

  const privateName = serviceIdentifier ? privateClusterHostname(clusterId, serviceIdentifier, region) : undefined;
  const publicName = publicClusterHostname(clusterId, region);
  const explicitName = raw.certificateName?.trim().toLowerCase();
  if (explicitName !== undefined && !/^[a-z0-9*]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(explicitName)) {
    throw new ConfigError('--certificate-name', `"${raw.certificateName}" is not a DNS name`);
  }
  const certificateNames = explicitName ? [explicitName]
    : route === 'sni' ? [privateName!] : [...(privateName ? [privateName] : []), publicName];
  const servername = route === 'sni' ? privateName! : optionRouteServername(endpoint.host)!;
  const tokenHostname = raw.tokenHostname?.trim() || (route === 'sni' ? privateName! : publicName);
  if (!DNS_NAME.test(tokenHostname)) {
    throw new ConfigError('--token-hostname', `"${tokenHostname}" is not a DNS name (e.g. ${publicName}; no scheme, path or port)`);
  }

  const tokenExpiresSeconds = parseTokenLifetime(raw.tokenExpires, '--token-expires');

  const sslNegotiation = raw.sslNegotiation ?? DEFAULTS.sslNegotiation;
  if (!(SSL_NEGOTIATIONS as readonly string[]).includes(sslNegotiation)) {
    throw new ConfigError('--ssl-negotiation', `"${sslNegotiation}" is not one of ${SSL_NEGOTIATIONS.join(', ')}`);
  }

  const logLevel = raw.logLevel ?? DEFAULTS.logLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError('--log-level', `"${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  }

  const listen = listenAddress(raw.listen ?? DEFAULTS.listen);
  let access: AccessConfig;
  try {
    access = resolveAccessConfig(raw, listen);
  } catch (error) {
    if (error instanceof AccessConfigError) throw new ConfigError(error.flag, error.message);
    throw error;
  }

  return Object.freeze({
    clusterId,
    endpoint,
    region,
    serviceIdentifier,
    route,
    injectClusterId: raw.injectClusterId ?? route === 'option',
    sslNegotiation: sslNegotiation as SslNegotiation,
    servername,
    certificateNames: Object.freeze(certificateNames),
    tokenHostname,
    tokenExpiresSeconds,
    caFile: raw.caFile || undefined,
    profile: raw.profile || undefined,
    keepDatabase: raw.keepDatabase ?? false,
    sqlCompat: raw.sqlCompat ?? true,
    listen,
    access,
    connectTimeoutMs: timeoutSeconds(raw.connectTimeout, '--connect-timeout', DEFAULTS.connectTimeoutSeconds) * 1000,
    startupTimeoutMs: timeoutSeconds(raw.startupTimeout, '--startup-timeout', DEFAULTS.startupTimeoutSeconds) * 1000,
    logLevel: logLevel as LogLevel,
    endpointUrl: endpointUrl(raw.endpointUrl),
  });
}

/** Token lifetime in whole seconds (1 to 604800) from `value` as typed; DEFAULTS.tokenExpiresSeconds when absent. */
export function parseTokenLifetime(value: string | number | undefined, flag: string): number {
  const seconds = positiveNumber(value, flag, DEFAULTS.tokenExpiresSeconds);
  if (!Number.isInteger(seconds) || seconds > MAX_TOKEN_EXPIRES_SECONDS) {
    throw new ConfigError(flag, `"${String(value)}" is not a whole number of seconds from 1 to ${MAX_TOKEN_EXPIRES_SECONDS}`);
  }
  return seconds;
}

/**
 * Validates every option but the service identifier, which the caller is about to look up with
 * GetVpcEndpointServiceName: a mistyped value must fail before any request is made.
 */
export function checkBeforeLookup(raw: RawOptions): void {
  resolveConfig({ ...raw, serviceIdentifier: raw.serviceIdentifier?.trim() || 'dsql-lookup' });
}

/** Validates what the management commands need: a region (flag, endpoint names, environment) and the endpoint URL. */
export function resolveManagementConfig(raw: RawOptions): ManagementConfig {
  const endpoint = raw.endpoint ? parseHostPort(raw.endpoint, DEFAULTS.port) : undefined;
  const fromEndpoint = typeof endpoint === 'object' ? parseEndpointName(endpoint.host).region : undefined;
  const region = raw.region?.trim() || fromEndpoint || regionOfEndpointUrl(raw.endpointUrl) || raw.ambientRegion?.trim();
  if (!region) throw new ConfigError('--region', 'required: the AWS region of the cluster (or set AWS_REGION)');
  if (!REGION.test(region)) throw new ConfigError('--region', `"${region}" is not an AWS region name (e.g. us-east-1)`);
  return { region, endpointUrl: endpointUrl(raw.endpointUrl), profile: raw.profile || undefined };
}

/**
 * True when the sni route needs a service identifier that neither a flag nor the endpoint name gives
 * (an IP endpoint): the caller looks it up with GetVpcEndpointServiceName before resolveConfig.
 */
export function needsServiceIdentifierLookup(raw: RawOptions): boolean {
  if ((raw.route ?? DEFAULTS.route) !== 'sni' || raw.serviceIdentifier?.trim() || !raw.clusterId) return false;
  const endpoint = raw.endpoint ? parseHostPort(raw.endpoint, DEFAULTS.port) : undefined;
  return typeof endpoint === 'object' && parseEndpointName(endpoint.host).serviceIdentifier === undefined;
}

function endpointUrl(value: string | undefined): string | undefined {
  if (!value?.trim()) return undefined;
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new ConfigError('--endpoint-url', `"${value}" is not a URL (e.g. https://vpce-….dsql.us-east-1.vpce.amazonaws.com)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError('--endpoint-url', `"${value}" must be an https:// URL`);
  return value.trim();
}

function regionOfEndpointUrl(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    return parseEndpointName(new URL(value).hostname).region;
  } catch {
    return undefined;
  }
}

function required(value: string | undefined, flag: string, what: string): string {
  if (value === undefined || value.trim() === '') throw new ConfigError(flag, `required: ${what}`);
  return value.trim();
}

function hostPort(value: string, flag: string, defaultPort: number): HostPort {
  const parsed = parseHostPort(value, defaultPort);
  if (typeof parsed === 'string') throw new ConfigError(flag, parsed);
  return parsed;
}

/** A bare port means that port on loopback, the safe address (`--listen 6432`). */
function listenAddress(value: string): HostPort {
  return hostPort(/^\s*\d+\s*$/.test(value) ? `127.0.0.1:${value.trim()}` : value, '--listen', DEFAULTS.port);
}

/** Longest accepted timeout: an hour. Node's timers overflow past 24.8 days and would then fire at once. */
const MAX_TIMEOUT_SECONDS = 3_600;

function timeoutSeconds(value: string | number | undefined, flag: string, fallback: number): number {
  const seconds = positiveNumber(value, flag, fallback);
  if (seconds > MAX_TIMEOUT_SECONDS) throw new ConfigError(flag, `"${String(value)}" is more than ${MAX_TIMEOUT_SECONDS} seconds`);
  return seconds;
}

function positiveNumber(value: string | number | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const text = String(value).trim();
  const number = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(number)) throw new ConfigError(flag, `"${String(value)}" is not a number`);
  if (number <= 0) throw new ConfigError(flag, `"${String(value)}" is not a positive number`);
  return number;
}
