import { isLoopbackHost, unixSocketPath } from './access-config.js';
import { createCredentials } from './aws/credentials.js';
import { loadClientAccess, type ClientAccess } from './client/access.js';
import type { CredentialSource } from './aws/token.js';
import type { ProxyConfig } from './config.js';
import type { HostPort } from './endpoint.js';
import { dialerFor, tokenProviderFor } from './connect-parts.js';
import { createLogger } from './log.js';
import type { ConnectRateLimiter } from './proxy/connect-rate.js';
import type { ConnectionSlots } from './proxy/connection-slots.js';
import { systemClock, type Clock, type Dialer, type ListenerMetrics, type Logger, type TokenProvider } from './proxy/ports.js';
import { ProxyServer } from './proxy/server.js';

// An empty file parses (PgBouncer's does too), but it is always a mistake: say so rather than refuse every client silently.
const EMPTY_AUTH_FILE = 'the auth file lists no role: every client is refused until lines from dsql-proxy passwd ROLE are added (then SIGHUP)';

/** Pieces a caller (tests, embedders) may supply instead of the real ones. */
export interface ProxyOverrides {
  readonly logger?: Logger;
  readonly dialer?: Dialer;
  readonly tokens?: TokenProvider;
  readonly credentials?: CredentialSource;
  readonly clock?: Clock;
  /** Name resolution for the endpoint (defaults to the system resolver). */
  readonly resolve?: (host: string) => Promise<string[]>;
  /** The access policy already loaded from config.access (the CLI loads it before --check, to fail early). */
  readonly access?: ClientAccess;
  /** Where the listener's counters go (none by default). */
  readonly metrics?: ListenerMetrics;
  /** The process-wide --max-connections budget, shared with the other listeners (no limit by default). */
  readonly slots?: ConnectionSlots;
  /** The --max-connect-rate queue of this listener's cluster, shared with its other listeners (no limit by default). */
  readonly connectRate?: ConnectRateLimiter;
}

/** A proxy that is listening. */
export interface RunningProxy {
  /** The bound listen address (the real port when 0 was asked for). */
  readonly address: HostPort;
  readonly server: ProxyServer;
  readonly logger: Logger;
  /** Re-reads --auth-file (SIGHUP); logs the outcome, keeps the previous verifiers when the file is bad. */
  reload(): void;
  /** Stops accepting and closes every connection. */
  close(): Promise<void>;
  /** Stops accepting; open sessions carry on for `graceMs`, then get FATAL 57P01 (ProxyServer.drain). */
  drain(graceMs: number): Promise<void>;
}

/** Composition root of one listener: builds the logger, credentials, token provider and dialer, then listens. */
export async function startProxy(config: ProxyConfig, overrides: ProxyOverrides = {}): Promise<RunningProxy> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const credentials = overrides.credentials ?? createCredentials(config.profile);
  const tokens = overrides.tokens ?? tokenProviderFor(config, credentials);
  const dialer = overrides.dialer ?? dialerFor(config, overrides.resolve);
  const access = overrides.access ?? loadClientAccess(config.access);
  const server = new ProxyServer({
    dialer,
    tokens,
    access: access.policy,
    clock: overrides.clock ?? systemClock,
    metrics: overrides.metrics,
    slots: overrides.slots,
    connectRate: overrides.connectRate,
    settings: {
      clusterId: config.clusterId,
      injectClusterId: config.injectClusterId,
      keepDatabase: config.keepDatabase,
      sqlCompat: config.sqlCompat,
      startupTimeoutMs: config.startupTimeoutMs,
      connectTimeoutMs: config.connectTimeoutMs,
      authTimeoutMs: config.connectTimeoutMs,
    },
  }, logger);
  const address = await server.listen(config.listen);
  const unixSocket = config.access.unixSocket ? { ...config.access.unixSocket, path: unixSocketPath(config.access.unixSocket.dir, address.port) } : undefined;
  if (unixSocket) {
    try {
      await server.listenUnix(unixSocket.path, unixSocket.mode);
    } catch (error) {
      await server.close();
      throw error;
    }
  }
  const { access: rules } = config;
  logger.info({
    listen: `${address.host}:${address.port}`,
    endpoint: `${config.endpoint.host}:${config.endpoint.port}`,
    route: config.route,
    cluster: config.clusterId,
    region: config.region,
    serviceIdentifier: config.serviceIdentifier,
    servername: config.servername ?? null,
    certificateNames: config.certificateNames,
    tokenHostname: config.tokenHostname,
    injectClusterId: config.injectClusterId,
    sqlCompat: config.sqlCompat,
    unixSocket: unixSocket ? `${unixSocket.path} (mode ${unixSocket.mode.toString(8).padStart(4, '0')})` : null,
    clientAuth: [rules.authFile ? 'scram' : undefined, rules.tls?.clientCaFile ? 'cert' : undefined].filter(Boolean),
    localTls: rules.tls !== undefined,
    requireTls: rules.requireTls,
    allowRoles: rules.allowRoles ?? 'all',
    allowCidr: rules.allowCidr?.map((block) => `${block.address}/${block.prefix}`) ?? 'any',
  }, 'dsql-proxy listening');
  const open = !rules.authFile && !rules.tls?.clientCaFile;
  if (open && (!isLoopbackHost(address.host) || unixSocket)) {
    logger.warn({ listen: address.host, unixSocket: unixSocket?.path ?? null },
      '--allow-unauthenticated: clients others can reach connect without a password or certificate and get sessions as any allowed role these AWS credentials may use');
  }
  if (access.policy.passwords?.size === 0) logger.warn({ authFile: rules.authFile }, EMPTY_AUTH_FILE);
  const reload = (): void => {
    try {
      const roles = access.reloadAuthFile();
      if (roles === 0) logger.warn({ authFile: rules.authFile }, EMPTY_AUTH_FILE);
      else if (roles !== undefined) logger.info({ authFile: rules.authFile, roles }, 'auth file reloaded');
    } catch (error) {
      // AuthFileError and read errors name the file and line, never a verifier.
      logger.error({ authFile: rules.authFile, error: (error as Error).message }, 'auth file not reloaded: keeping the previous one');
    }
  };
  return { address, server, logger, reload, close: () => server.close(), drain: (graceMs) => server.drain(graceMs) };
}
