import { createCredentials } from './aws/credentials.js';
import type { CredentialSource } from './aws/token.js';
import type { ProxyConfig } from './config.js';
import type { HostPort } from './endpoint.js';
import { dialerFor, tokenProviderFor } from './connect-parts.js';
import { createLogger } from './log.js';
import { systemClock, type Clock, type Dialer, type Logger, type TokenProvider } from './proxy/ports.js';
import { ProxyServer } from './proxy/server.js';

/** Pieces a caller (tests, embedders) may supply instead of the real ones. */
export interface ProxyOverrides {
  readonly logger?: Logger;
  readonly dialer?: Dialer;
  readonly tokens?: TokenProvider;
  readonly credentials?: CredentialSource;
  readonly clock?: Clock;
  /** Name resolution for the endpoint (defaults to the system resolver). */
  readonly resolve?: (host: string) => Promise<string[]>;
}

/** A proxy that is listening. */
export interface RunningProxy {
  /** The bound listen address (the real port when 0 was asked for). */
  readonly address: HostPort;
  readonly server: ProxyServer;
  readonly logger: Logger;
  /** Stops accepting and closes every connection. */
  close(): Promise<void>;
}

/** Composition root: builds the logger, credentials, token provider and dialer, then listens. */
export async function startProxy(config: ProxyConfig, overrides: ProxyOverrides = {}): Promise<RunningProxy> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const credentials = overrides.credentials ?? createCredentials(config.profile);
  const tokens = overrides.tokens ?? tokenProviderFor(config, credentials);
  const dialer = overrides.dialer ?? dialerFor(config, overrides.resolve);
  const server = new ProxyServer({
    dialer,
    tokens,
    clock: overrides.clock ?? systemClock,
    settings: {
      clusterId: config.clusterId,
      injectClusterId: config.injectClusterId,
      keepDatabase: config.keepDatabase,
      startupTimeoutMs: config.startupTimeoutMs,
      connectTimeoutMs: config.connectTimeoutMs,
      authTimeoutMs: config.connectTimeoutMs,
    },
  }, logger);
  const address = await server.listen(config.listen);
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
  }, 'dsql-proxy listening');
  if (!isLoopback(address.host)) {
    logger.warn({ listen: address.host },
      'listening beyond loopback: clients connect without TLS or password and get sessions as any role these AWS credentials may use; restrict who can reach this address');
  }
  return { address, server, logger, close: () => server.close() };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
