import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback fake of the DSQL management API (REST-JSON, as @aws-sdk/client-dsql speaks it), used through
 * the real SDK client with --endpoint-url. It requires a SigV4 Authorization header for service `dsql` and
 * answers from the clusters of the region named in the header's credential scope.
 */

/** A cluster the fake knows. */
export interface FakeCluster {
  readonly identifier: string;
  readonly status?: string;
  readonly serviceIdentifier?: string;
  readonly deletionProtectionEnabled?: boolean;
  readonly creationTime?: number;
  readonly peers?: readonly string[];
  readonly witnessRegion?: string;
}

/** One request as the fake saw it. */
export interface FakeRequest {
  readonly method: string;
  readonly path: string;
  readonly region: string | undefined;
  readonly service: string | undefined;
}

const ACCOUNT = '123456789012';

/** A running fake. */
export class ManagementFake {
  readonly requests: FakeRequest[] = [];
  private readonly server: Server;
  /** Largest page ListClusters returns, whatever max-results asks (to exercise pagination). */
  pageSize = 2;
  /**
   * The one region this endpoint serves, as a regional or management VPC endpoint does: a request signed for another
   * is refused as AWS refuses it. Undefined serves every region in `clusters`.
   */
  servedRegion: string | undefined;
  /** Access key ids AWS knows; another is refused as unrecognised. Undefined knows every key. */
  knownAccessKeys: ReadonlySet<string> | undefined;
  /** Actions (e.g. dsql:GetCluster) the caller's IAM policy does not allow. */
  readonly deniedActions = new Set<string>();
  url = '';

  /** `clusters` by region. */
  constructor(private readonly clusters: Record<string, readonly FakeCluster[]>) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  /** Starts on 127.0.0.1 and returns the base URL. */
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  /** Stops listening. */
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const scope = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(req.headers.authorization ?? '');
    const region = scope?.[2];
    const service = scope?.[3];
    this.requests.push({ method: req.method ?? '', path: url.pathname + url.search, region, service });
    req.resume();
    if (!req.headers.authorization?.startsWith('AWS4-HMAC-SHA256 ') || !scope) {
      return this.error(res, 403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    if (this.knownAccessKeys && !this.knownAccessKeys.has(scope[1]!)) {
      return this.error(res, 403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    if (service !== 'dsql') return this.error(res, 403, 'InvalidSignatureException', `Credential should be scoped to correct service: 'dsql'.`);
    if (this.servedRegion && region !== this.servedRegion) {
      return this.error(res, 403, 'InvalidSignatureException', `Credential should be scoped to a valid region, not '${region}'. `);
    }
    const clusters = this.clusters[region!] ?? [];
    const arn = (id: string): string => `arn:aws:dsql:${region}:${ACCOUNT}:cluster/${id}`;
    const find = (id: string): FakeCluster | undefined => clusters.find((c) => c.identifier === id);
    const notFound = (id: string): void => this.error(res, 404, 'ResourceNotFoundException', `Cluster not found: ${id}`);

    const deny = (action: string, resource: string): void => this.error(res, 403, 'AccessDeniedException',
      `User: arn:aws:iam::${ACCOUNT}:user/doctor is not authorized to perform: ${action} on resource: ${resource} `
      + `because no identity-based policy allows the ${action} action`);

    if (req.method === 'GET' && url.pathname === '/cluster') {
      if (this.deniedActions.has('dsql:ListClusters')) return deny('dsql:ListClusters', `arn:aws:dsql:${region}:${ACCOUNT}:cluster/*`);
      const start = Number(url.searchParams.get('next-token') ?? '0');
      const max = Math.min(Number(url.searchParams.get('max-results') ?? this.pageSize), this.pageSize);
      const page = clusters.slice(start, start + max);
      const next = start + max < clusters.length ? String(start + max) : undefined;
      return this.json(res, { clusters: page.map((c) => ({ identifier: c.identifier, arn: arn(c.identifier) })), ...(next ? { nextToken: next } : {}) });
    }
    let m = /^\/cluster\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && m) {
      if (this.deniedActions.has('dsql:GetCluster')) return deny('dsql:GetCluster', arn(decodeURIComponent(m[1]!)));
      const c = find(decodeURIComponent(m[1]!));
      if (!c) return notFound(m[1]!);
      return this.json(res, {
        identifier: c.identifier, arn: arn(c.identifier), status: c.status ?? 'ACTIVE',
        creationTime: c.creationTime ?? 1_767_225_600, deletionProtectionEnabled: c.deletionProtectionEnabled ?? true,
        ...(c.peers ? { multiRegionProperties: { clusters: c.peers, witnessRegion: c.witnessRegion } } : {}),
        encryptionDetails: { encryptionType: 'AWS_OWNED_KMS_KEY', encryptionStatus: 'ENABLED' },
        endpoint: `${c.identifier}.dsql.${region}.on.aws`,
      });
    }
    m = /^\/clusters\/([^/]+)\/vpc-endpoint-service-name$/.exec(url.pathname);
    if (req.method === 'GET' && m) {
      if (this.deniedActions.has('dsql:GetVpcEndpointServiceName')) return deny('dsql:GetVpcEndpointServiceName', arn(decodeURIComponent(m[1]!)));
      const c = find(decodeURIComponent(m[1]!));
      if (!c) return notFound(m[1]!);
      return this.json(res, { serviceName: `com.amazonaws.${region}.${c.serviceIdentifier ?? 'dsql-test1'}` });
    }
    return this.error(res, 404, 'UnknownOperationException', `no route for ${req.method} ${url.pathname}`);
  }

  private json(res: ServerResponse, body: unknown): void {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private error(res: ServerResponse, status: number, type: string, message: string): void {
    res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type }).end(JSON.stringify({ message }));
  }
}
