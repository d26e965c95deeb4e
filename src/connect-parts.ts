import { createTokenProvider, type CredentialSource } from './aws/token.js';
import type { ProxyConfig } from './config.js';
import type { Dialer, TokenProvider } from './proxy/ports.js';
import { createDialer } from './upstream/dialer.js';
import { loadTrustedCas } from './upstream/trust.js';

/** The token provider a configuration calls for, over the process's credentials. */
export function tokenProviderFor(config: ProxyConfig, credentials: CredentialSource): TokenProvider {
  return createTokenProvider({
    hostname: config.tokenHostname,
    region: config.region,
    expiresInSeconds: config.tokenExpiresSeconds,
    credentials,
    profile: config.profile,
    shareMs: config.connectTimeoutMs,
  });
}

/** The dialer a configuration calls for: its endpoint, route, trusted CAs and deadline. */
export function dialerFor(config: ProxyConfig, resolve?: (host: string) => Promise<string[]>): Dialer {
  return createDialer({
    host: config.endpoint.host,
    port: config.endpoint.port,
    servername: config.servername,
    certificateNames: config.certificateNames,
    sslNegotiation: config.sslNegotiation,
    ca: loadTrustedCas(config.caFile),
    timeoutMs: config.connectTimeoutMs,
    ...(resolve ? { resolve } : {}),
  });
}
