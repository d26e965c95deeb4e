import { DsqlSigner } from '@aws-sdk/dsql-signer';
import { SqlState } from '../protocol/codes.js';
import { ConnectionFailure, type TokenProvider } from '../proxy/ports.js';

/** The credential source DsqlSigner accepts (a provider function, shared by the whole process). */
export type CredentialSource = NonNullable<ConstructorParameters<typeof DsqlSigner>[0]['credentials']>;

/** Settings for IAM token generation. */
export interface TokenProviderOptions {
  /** Hostname the token is signed for. */
  readonly hostname: string;
  readonly region: string;
  /** Token lifetime in seconds. */
  readonly expiresInSeconds: number;
  /** The process-wide credential provider (it caches and refreshes). */
  readonly credentials: CredentialSource;
  /** Profile name, only to make the failure hint precise. */
  readonly profile?: string | undefined;
  /** How long a signed token is reused for the same role (ms); 0 signs one per connection. */
  readonly reuseMs?: number;
  /** Wall clock in ms (tests substitute it). */
  readonly now?: () => number;
}

/**
 * Default token reuse: a minute. A reused token is at most this old, so with the default 900 s lifetime it
 * has at least 14 minutes left, and the SDK refreshes temporary credentials minutes before they expire,
 * so a reused token never outlives the credentials that signed it. Saves a signature per connection.
 */
export const DEFAULT_TOKEN_REUSE_MS = 60_000;

const MAX_CACHED_ROLES = 1_000;

/** The DSQL role that needs a DbConnectAdmin token; every other role gets DbConnect. */
export const ADMIN_ROLE = 'admin';

/** Creates a TokenProvider that signs DSQL tokens locally with one shared DsqlSigner. */
export function createTokenProvider(options: TokenProviderOptions): TokenProvider {
  const signer = new DsqlSigner({
    hostname: options.hostname,
    region: options.region,
    credentials: options.credentials,
    expiresIn: options.expiresInSeconds,
  });
  const reuseMs = Math.min(options.reuseMs ?? DEFAULT_TOKEN_REUSE_MS, (options.expiresInSeconds * 1000) / 4);
  const now = options.now ?? Date.now;
  const cache = new Map<string, { token: Promise<string>; signedAt: number }>();
  const sign = async (user: string): Promise<string> => {
    try {
      return user === ADMIN_ROLE ? await signer.getDbConnectAdminAuthToken() : await signer.getDbConnectAuthToken();
    } catch (error) {
      throw credentialFailure(error, options.profile);
    }
  };
  return {
    token(user: string): Promise<string> {
      const cached = cache.get(user);
      if (cached && now() - cached.signedAt < reuseMs) return cached.token;
      const token = sign(user);
      if (reuseMs > 0) {
        if (cache.size >= MAX_CACHED_ROLES) {
          for (const [role, entry] of cache) if (now() - entry.signedAt >= reuseMs) cache.delete(role);
          if (cache.size >= MAX_CACHED_ROLES) cache.clear(); // clients choose role names: keep the map bounded
        }
        cache.set(user, { token, signedAt: now() });
        token.catch(() => cache.delete(user)); // a failure is retried by the next connection, not reused
      }
      return token;
    },
  };
}

function credentialFailure(error: unknown, profile: string | undefined): ConnectionFailure {
  // SDK credential errors describe the sources tried; they never contain key material.
  const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
  const profileHint = profile
    ? `profile "${profile}" (--profile)`
    : 'the default profile (set AWS_PROFILE or --profile to choose another)';
  return new ConnectionFailure(
    SqlState.invalidAuthorization,
    `dsql-proxy could not sign an IAM token: AWS credentials could not be resolved (${reason})`,
    'Sources tried: environment variables (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), SSO and shared config/credentials '
      + `files for ${profileHint}, web identity, container and instance metadata. `
      + `Run "aws sso login${profile ? ` --profile ${profile}` : ''}" if the SSO session expired, or export credentials before starting dsql-proxy.`,
    { cause: error },
  );
}
