import { DsqlSigner } from '@aws-sdk/dsql-signer';
import { SqlState } from '../protocol/codes.js';
import { abortable } from '../proxy/abort.js';
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
  /**
   * How long a pending signature may be shared with later connections (ms): past it, a credential source that
   * hangs is asked again instead of holding every new connection. Defaults to the connect timeout's default.
   */
  readonly shareMs?: number;
  /** Wall clock in ms (tests substitute it). */
  readonly now?: () => number;
}

/**
 * Default token reuse: a minute. A reused token is at most this old, so with the default 900 s lifetime it
 * has at least 14 minutes left; it is never reused past the expiration of the credentials that signed it.
 */
export const DEFAULT_TOKEN_REUSE_MS = 60_000;

/** A reused token stops being handed out this long before its credentials expire (they sign nothing valid after). */
const CREDENTIAL_EXPIRY_MARGIN_MS = 30_000;
const DEFAULT_SHARE_MS = 10_000;
const MAX_CACHED_ROLES = 1_000;

/** The DSQL role that needs a DbConnectAdmin token; every other role gets DbConnect. */
export const ADMIN_ROLE = 'admin';

/** A signed token and until when (wall clock, ms) it may be handed to another connection. */
interface Signed {
  readonly token: string;
  readonly reusableUntil: number;
}

/**
 * Creates a TokenProvider that signs DSQL tokens locally. Credentials come from the shared provider on each
 * signature (it caches them), so their expiration caps how long the token is reused.
 */
export function createTokenProvider(options: TokenProviderOptions): TokenProvider {
  const reuseMs = Math.min(options.reuseMs ?? DEFAULT_TOKEN_REUSE_MS, (options.expiresInSeconds * 1000) / 4);
  const shareMs = options.shareMs ?? DEFAULT_SHARE_MS;
  const now = options.now ?? Date.now;
  const cache = new Map<string, Signed>();
  const pending = new Map<string, { signed: Promise<Signed>; startedAt: number }>();

  const sign = async (user: string): Promise<Signed> => {
    try {
      const source = options.credentials;
      const credentials = typeof source === 'function' ? await source() : source;
      // A copy: the SDK writes into the object it is given.
      const signer = new DsqlSigner({
        hostname: options.hostname, region: options.region, credentials: { ...credentials }, expiresIn: options.expiresInSeconds,
      });
      const token = user === ADMIN_ROLE ? await signer.getDbConnectAdminAuthToken() : await signer.getDbConnectAuthToken();
      const expiration = credentials.expiration?.getTime() ?? Infinity;
      return { token, reusableUntil: Math.min(now() + reuseMs, expiration - CREDENTIAL_EXPIRY_MARGIN_MS) };
    } catch (error) {
      throw credentialFailure(error, options.profile);
    }
  };

  const remember = (user: string, signed: Signed): void => {
    if (reuseMs <= 0) return;
    if (cache.size >= MAX_CACHED_ROLES) {
      for (const [role, entry] of cache) if (now() >= entry.reusableUntil) cache.delete(role);
      if (cache.size >= MAX_CACHED_ROLES) cache.clear(); // clients choose role names: keep the map bounded
    }
    cache.set(user, signed);
  };

  return {
    token(user: string, signal?: AbortSignal): Promise<string> {
      const cached = cache.get(user);
      if (cached && now() < cached.reusableUntil) return Promise.resolve(cached.token);
      let entry = pending.get(user);
      if (!entry || now() - entry.startedAt >= shareMs) {
        const mine = { signed: sign(user), startedAt: now() };
        pending.set(user, mine);
        // Only a success is remembered; a failure is retried by the next connection.
        mine.signed.then((signed) => remember(user, signed), () => undefined)
          .finally(() => { if (pending.get(user) === mine) pending.delete(user); });
        entry = mine;
      }
      return abortable(entry.signed.then((signed) => signed.token), signal);
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
