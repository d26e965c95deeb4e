import {
  DSQLClient, GetClusterCommand, GetVpcEndpointServiceNameCommand, paginateListClusters,
} from '@aws-sdk/client-dsql';
import { needsServiceIdentifierLookup, type RawOptions } from '../config.js';
import type { CredentialSource } from './token.js';
import { rejectionHint } from './rejection-hints.js';

/** One cluster as ListClusters reports it. */
export interface ClusterSummary {
  readonly identifier: string;
  readonly arn: string;
}

/** One cluster as GetCluster reports it. */
export interface ClusterDetails extends ClusterSummary {
  readonly status: string;
  readonly creationTime: Date | undefined;
  readonly deletionProtectionEnabled: boolean | undefined;
  /** Peer cluster ARNs of a multi-Region cluster. */
  readonly peers: readonly string[];
  readonly witnessRegion: string | undefined;
  readonly endpoint: string | undefined;
}

/** What GetVpcEndpointServiceName reports, plus the identifier the names are built from. */
export interface EndpointServiceName {
  /** e.g. com.amazonaws.us-east-1.dsql-fnh4 */
  readonly serviceName: string;
  /** The last dot-separated part, e.g. dsql-fnh4. */
  readonly serviceIdentifier: string;
  readonly clusterVpcEndpoint: string | undefined;
}

/** The management API calls dsql-proxy makes; rejects with ManagementError. */
export interface ManagementApi {
  /** ListClusters, every page. */
  listClusters(): Promise<ClusterSummary[]>;
  getCluster(identifier: string): Promise<ClusterDetails>;
  getServiceName(identifier: string): Promise<EndpointServiceName>;
  /** Where the calls go, for messages. */
  readonly endpointDescription: string;
}

/** Why a management call failed, sorted into what a user can act on. */
export type ManagementFailure = 'not-found' | 'access-denied' | 'invalid' | 'unreachable' | 'other';

/** A failed management call, with a hint naming the fix. */
export class ManagementError extends Error {
  constructor(readonly kind: ManagementFailure, message: string, readonly hint: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ManagementError';
  }
}

/** Settings for the management client. */
export interface ManagementOptions {
  readonly region: string;
  /** A management VPC endpoint URL (https://vpce-….dsql.<region>.vpce.amazonaws.com); default: the regional endpoint. */
  readonly endpointUrl: string | undefined;
  readonly credentials: CredentialSource;
  readonly timeoutMs?: number;
}

/** Creates the management API over @aws-sdk/client-dsql. */
export function createManagementApi(options: ManagementOptions): ManagementApi {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const client = new DSQLClient({
    region: options.region,
    credentials: options.credentials,
    maxAttempts: 2,
    requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs },
    ...(options.endpointUrl ? { endpoint: options.endpointUrl } : {}),
  });
  const endpointDescription = options.endpointUrl ?? `https://dsql.${options.region}.api.aws (regional default)`;
  const call = async <T>(what: string, action: () => Promise<T>): Promise<T> => {
    try {
      return await action();
    } catch (error) {
      throw toManagementError(error, what, options.region, endpointDescription);
    }
  };
  return {
    endpointDescription,
    listClusters: () => call('ListClusters', async () => {
      const clusters: ClusterSummary[] = [];
      for await (const page of paginateListClusters({ client }, {})) {
        for (const c of page.clusters ?? []) clusters.push({ identifier: c.identifier ?? '', arn: c.arn ?? '' });
      }
      return clusters;
    }),
    getCluster: (identifier) => call(`GetCluster ${identifier}`, async () => {
      const c = await client.send(new GetClusterCommand({ identifier }));
      return {
        identifier: c.identifier ?? identifier,
        arn: c.arn ?? '',
        status: c.status ?? 'UNKNOWN',
        creationTime: c.creationTime,
        deletionProtectionEnabled: c.deletionProtectionEnabled,
        peers: c.multiRegionProperties?.clusters ?? [],
        witnessRegion: c.multiRegionProperties?.witnessRegion,
        endpoint: c.endpoint,
      };
    }),
    getServiceName: (identifier) => call(`GetVpcEndpointServiceName ${identifier}`, async () => {
      const out = await client.send(new GetVpcEndpointServiceNameCommand({ identifier }));
      const serviceName = out.serviceName ?? '';
      return { serviceName, serviceIdentifier: serviceName.split('.').at(-1) ?? '', clusterVpcEndpoint: out.clusterVpcEndpoint };
    }),
  };
}

function toManagementError(error: unknown, what: string, region: string, endpoint: string): ManagementError {
  const e = error as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const name = e.name ?? 'Error';
  const message = e.message ?? String(error);
  if (name === 'ResourceNotFoundException' || e.$metadata?.httpStatusCode === 404) {
    return new ManagementError('not-found', `${what}: not found in ${region} (${message})`,
      'Check the cluster identifier and --region: aws dsql list-clusters --region <region>, or dsql-proxy clusters.', { cause: error });
  }
  if (['AccessDeniedException', 'UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException', 'SignatureDoesNotMatch', 'InvalidClientTokenId'].includes(name)) {
    return new ManagementError('access-denied', `${what}: ${name} (${message})`, rejectionHint(name, message, region)
      ?? 'The credentials were refused: check that they are current (aws sso login) and allow dsql:GetCluster, dsql:ListClusters and dsql:GetVpcEndpointServiceName.', { cause: error });
  }
  if (name === 'ValidationException') {
    return new ManagementError('invalid', `${what}: ${message}`, 'Check the cluster identifier.', { cause: error });
  }
  if (name === 'CredentialsProviderError') {
    return new ManagementError('access-denied', `${what}: AWS credentials could not be resolved (${message.split('\n')[0]})`,
      'Run "aws sso login", set AWS_PROFILE or --profile, or export credentials.', { cause: error });
  }
  const code = e.code ?? name;
  if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|TimeoutError|RequestTimeout)/.test(code)) {
    return new ManagementError('unreachable', `${what}: could not reach ${endpoint} (${code})`,
      'Check --endpoint-url (the management VPC endpoint, service com.amazonaws.<region>.dsql), that it resolves here, and that its security group allows TCP 443 from this host.', { cause: error });
  }
  return new ManagementError('other', `${what}: ${name}: ${message}`, 'Retry; if it persists, check the AWS service health and the request in the debug log.', { cause: error });
}

/**
 * Returns `raw` with the service identifier filled in from GetVpcEndpointServiceName when the sni route
 * needs one that neither a flag nor the endpoint name gives (an IP endpoint); otherwise `raw` as it is.
 */
export async function completeServiceIdentifier(raw: RawOptions, api: ManagementApi | undefined): Promise<{ raw: RawOptions; lookedUp: boolean }> {
  if (!needsServiceIdentifierLookup(raw) || !api) return { raw, lookedUp: false };
  const { serviceIdentifier } = await api.getServiceName(raw.clusterId!);
  return { raw: { ...raw, serviceIdentifier }, lookedUp: true };
}
