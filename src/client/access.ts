import type { AccessConfig } from '../access-config.js';
import { ConfigError } from '../config.js';
import { AuthFileError, loadAuthFile } from './auth-file.js';
import { AccessPolicy } from './policy.js';
import type { ScramVerifier } from './scram.js';
import { loadLocalTls } from './tls.js';

/** The access policy of a starting proxy, with the means to re-read its auth file. */
export interface ClientAccess {
  readonly policy: AccessPolicy;
  /**
   * Re-reads --auth-file; the next login uses it, open sessions are untouched. Resolves with the number of roles,
   * undefined when there is no auth file; throws AuthFileError and keeps the previous verifiers when the file is bad.
   */
  reloadAuthFile(): number | undefined;
}

/** Reads the files the access options name (TLS identity, auth file); a bad file is a ConfigError (exit 2). */
export function loadClientAccess(config: AccessConfig): ClientAccess {
  const tls = config.tls ? loadLocalTls(config.tls) : undefined;
  let verifiers: ReadonlyMap<string, ScramVerifier> | undefined;
  if (config.authFile !== undefined) {
    try {
      verifiers = loadAuthFile(config.authFile);
    } catch (error) {
      if (error instanceof AuthFileError) throw new ConfigError('--auth-file', error.message);
      throw error;
    }
  }
  const policy = new AccessPolicy(config, tls, () => verifiers);
  return {
    policy,
    reloadAuthFile: () => {
      if (config.authFile === undefined) return undefined;
      verifiers = loadAuthFile(config.authFile);
      return verifiers.size;
    },
  };
}
