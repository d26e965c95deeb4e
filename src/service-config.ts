import { isIP } from 'node:net';
import { unixSocketPath } from './access-config.js';
import { ConfigError, DEFAULTS, LOG_LEVELS, type LogLevel, type ProxyConfig } from './config.js';
import { parseHostPort, type HostPort } from './endpoint.js';

/** Defaults of the process-wide and limit flags. */
export const SERVICE_DEFAULTS = {
  /** No limit on client connections. */
  maxConnections: 0,
  /** DSQL admits 100 new connections per second per cluster (burst 1,000) and answers 53400 beyond that. */
  maxConnectRate: 100,
  /** Sessions are cut at once on SIGTERM unless the operator grants them time. */
  maxSigtermDelaySeconds: 0,
};

/**
 * The longest --max-sigterm-delay: a DSQL connection lives at most an hour, so no session needs longer to finish
 * (and Node's timers overflow past 24.8 days).
 */
const MAX_SIGTERM_DELAY_SECONDS = 3_600;

/** Process-wide options as flags, variables and the config file's top level give them, before validation. */
export interface RawServiceOptions {
  httpListen?: string | undefined;
  maxConnections?: string | number | undefined;
  maxSigtermDelay?: string | number | undefined;
  logLevel?: string | undefined;
}

/** Settings of the whole process (every listener shares them), validated. */
export interface ServiceConfig {
  /** Where /startup, /liveness, /readiness and /metrics are served; undefined: nowhere. */
  readonly httpListen: HostPort | undefined;
  /** Client connections the process holds at once; 0 = no limit. */
  readonly maxConnections: number;
  /** How long sessions may carry on after the first SIGTERM/SIGINT. */
  readonly maxSigtermDelayMs: number;
  readonly logLevel: LogLevel;
}

/** Validates the process-wide options. No I/O. */
export function resolveServiceConfig(raw: RawServiceOptions): ServiceConfig {
  const logLevel = raw.logLevel ?? DEFAULTS.logLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError('--log-level', `"${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  const delay = nonNegative(raw.maxSigtermDelay, '--max-sigterm-delay', SERVICE_DEFAULTS.maxSigtermDelaySeconds, false);
  if (delay > MAX_SIGTERM_DELAY_SECONDS) {
    throw new ConfigError('--max-sigterm-delay', `"${String(raw.maxSigtermDelay)}" is more than ${MAX_SIGTERM_DELAY_SECONDS} seconds (a DSQL connection lasts at most an hour)`);
  }
  return Object.freeze({
    httpListen: raw.httpListen === undefined ? undefined : loopbackByDefault(raw.httpListen, '--http-listen'),
    maxConnections: nonNegative(raw.maxConnections, '--max-connections', SERVICE_DEFAULTS.maxConnections, true),
    maxSigtermDelayMs: Math.round(delay * 1000),
    logLevel: logLevel as LogLevel,
  });
}

/** --max-connect-rate of one listener: new upstream dials per second, 0 = no limit. */
export function parseConnectRate(value: string | number | undefined): number {
  return nonNegative(value, '--max-connect-rate', SERVICE_DEFAULTS.maxConnectRate, true);
}

/** One listener as validated, with its share of the limits. */
export interface ListenerSettings {
  readonly config: ProxyConfig;
  /** --max-connect-rate, shared by every listener of the same cluster and region. */
  readonly connectRate: number;
}

/** The key listeners of one cluster share a connect-rate queue by (DSQL's limit is per cluster). */
export function clusterKey(config: ProxyConfig): string {
  return `${config.clusterId}/${config.region}`;
}

/**
 * Checks the listeners against each other before any of them listens: no two on one address or unix socket (nor on
 * the --http-listen address), and one --max-connect-rate per cluster, since its listeners share one queue.
 */
export function checkListeners(listeners: readonly ListenerSettings[], http: HostPort | undefined): void {
  for (let i = 0; i < listeners.length; i++) {
    const a = listeners[i]!.config;
    if (http && collides(a.listen, http)) {
      throw new ConfigError('--http-listen', `${formatHostPort(http)} is also where listener ${i} accepts PostgreSQL clients: give each its own port`);
    }
    for (let j = i + 1; j < listeners.length; j++) {
      const b = listeners[j]!.config;
      if (collides(a.listen, b.listen)) {
        throw new ConfigError('--listen', `listeners ${i} and ${j} both listen on ${formatHostPort(b.listen)}: give each listener its own "listen" port`);
      }
      const socketA = socketPathOf(a);
      if (socketA !== undefined && socketA === socketPathOf(b)) {
        throw new ConfigError('--unix-socket', `listeners ${i} and ${j} would both create ${socketA}: give them different "listen" ports or "unix-socket" directories`);
      }
      if (clusterKey(a) === clusterKey(b) && listeners[i]!.connectRate !== listeners[j]!.connectRate) {
        throw new ConfigError('--max-connect-rate', `listeners ${i} and ${j} serve cluster ${a.clusterId} in ${a.region}, which has one connection queue, `
          + `but ask for ${listeners[i]!.connectRate} and ${listeners[j]!.connectRate} per second: give them the same value`);
      }
    }
  }
}

/** `host:port` as a listen flag takes it (IPv6 in brackets). */
export function formatHostPort({ host, port }: HostPort): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Two addresses the kernel would refuse to bind both: one port (not 0, which picks a free one) on overlapping hosts. */
function collides(a: HostPort, b: HostPort): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  if (a.host === b.host || a.host === '::' || b.host === '::') return true; // Linux binds "::" for IPv4 too
  const v4 = (host: string): boolean => isIP(host) !== 6;
  return (a.host === '0.0.0.0' && v4(b.host)) || (b.host === '0.0.0.0' && v4(a.host));
}

function socketPathOf(config: ProxyConfig): string | undefined {
  const socket = config.access.unixSocket;
  return socket && config.listen.port !== 0 ? unixSocketPath(socket.dir, config.listen.port) : undefined;
}

/** A bare port means that port on loopback, the safe address, as --listen takes it. */
function loopbackByDefault(value: string, flag: string): HostPort {
  const text = /^\s*\d+\s*$/.test(value) ? `127.0.0.1:${value.trim()}` : value;
  const parsed = parseHostPort(text, DEFAULTS.port);
  if (typeof parsed === 'string') throw new ConfigError(flag, parsed);
  return parsed;
}

function nonNegative(value: string | number | undefined, flag: string, fallback: number, whole: boolean): number {
  if (value === undefined) return fallback;
  const text = String(value).trim();
  const number = (whole ? /^\d+$/ : /^(\d+\.?\d*|\.\d+)$/).test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(Math.ceil(number))) {
    throw new ConfigError(flag, `"${String(value)}" is not ${whole ? 'a whole number' : 'a number of seconds'} (0 or more)`);
  }
  return number;
}
