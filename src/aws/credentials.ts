import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { CredentialSource } from './token.js';

/** The one credential provider of the process: the SDK's default chain (caches and refreshes). */
export function createCredentials(profile: string | undefined): CredentialSource {
  return fromNodeProviderChain(profile ? { profile } : {});
}

/** SDK credential feature ids (the `$source` the SDK stamps on resolved credentials) → what the user knows them as. */
const SOURCE_LABELS: readonly [prefix: string, label: string][] = [
  ['CREDENTIALS_ENV_VARS_STS_WEB_ID_TOKEN', 'web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)'],
  ['CREDENTIALS_ENV_VARS', 'environment variables (AWS_ACCESS_KEY_ID)'],
  ['CREDENTIALS_PROFILE_SSO', 'SSO via the shared config profile'],
  ['CREDENTIALS_PROFILE_PROCESS', 'credential_process of the shared config profile'],
  ['CREDENTIALS_PROFILE_SOURCE_PROFILE', 'assumed role via source_profile'],
  ['CREDENTIALS_PROFILE', 'shared config/credentials profile'],
  ['CREDENTIALS_SSO', 'SSO'],
  ['CREDENTIALS_PROCESS', 'credential_process'],
  ['CREDENTIALS_STS_ASSUME_ROLE', 'assumed role'],
  ['CREDENTIALS_HTTP', 'container credentials endpoint'],
  ['CREDENTIALS_IMDS', 'EC2 instance metadata'],
  ['CREDENTIALS_CODE', 'credentials passed in code'],
];

/** Names where resolved credentials came from, never their values. */
export function describeCredentialSource(credentials: object, profile: string | undefined): string {
  const source = (credentials as { $source?: Record<string, string> }).$source ?? {};
  const keys = Object.keys(source);
  const label = SOURCE_LABELS.find(([prefix]) => keys.some((k) => k.startsWith(prefix)))?.[1] ?? 'the default credential chain';
  return label.includes('profile') ? `${label} "${profile ?? process.env.AWS_PROFILE ?? 'default'}"` : label;
}
