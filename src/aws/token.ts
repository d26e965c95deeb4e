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
}

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
  return {
    async token(user: string): Promise<string> {
      try {
        return user === ADMIN_ROLE ? await signer.getDbConnectAdminAuthToken() : await signer.getDbConnectAuthToken();
      } catch (error) {
        throw credentialFailure(error, options.profile);
      }
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
