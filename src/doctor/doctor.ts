import { createCredentials, describeCredentialSource } from '../aws/credentials.js';
import { completeServiceIdentifier, createManagementApi, ManagementError, type ManagementApi } from '../aws/management.js';
import type { CredentialSource } from '../aws/token.js';
import { dialerFor, tokenProviderFor } from '../connect-parts.js';
import { optionRouteServername } from '../endpoint.js';
import { resolveConfig, resolveManagementConfig, type ProxyConfig, type RawOptions } from '../config.js';
import { withClusterOption, type StartupParameter } from '../protocol/startup.js';
import { ServerRejection } from '../proxy/authenticate.js';
import { ConnectionFailure } from '../proxy/ports.js';
import { loadTrustedCas } from '../upstream/trust.js';
import { connectTcp, defaultResolve, resolveAddresses, upstreamSecureContext } from '../upstream/dialer.js';
import { inspectTls, probeLogin, type TlsInspection } from './probes.js';

/** Outcome of one check. */
export type CheckStatus = 'pass' | 'fail' | 'skip';

/** One line of the doctor's report. */
export interface CheckResult {
  readonly id: string;
  readonly title: string;
  readonly status: CheckStatus;
  /** What was measured or found. */
  readonly value: string;
  /** For a failure: what to do, from the PrivateLink guide's common-issues table. */
  readonly remedy?: string | undefined;
}

/** What to check and as whom. */
export interface DoctorRequest {
  readonly raw: RawOptions;
  /** Role for the login check. */
  readonly user: string;
  readonly database: string;
  /** `network` runs only what serving needs (for --check): credentials, DNS, TCP, TLS, certificate, login. */
  readonly scope: 'all' | 'network';
}

/** Replaceable parts, for tests and embedders. */
export interface DoctorDeps {
  readonly credentials?: CredentialSource;
  readonly resolve?: (host: string) => Promise<string[]>;
  readonly management?: ManagementApi;
}

const SG_REMEDY = (port: number): string =>
  `Allow inbound TCP ${port} from this host in the endpoint's security group, and check route tables and network ACLs between this host and the VPC.`;
const AUTH_REMEDY = 'Authentication failed: check that the role exists in the cluster (admin, or one granted with AWS IAM GRANT), '
  + 'that the IAM policy allows dsql:DbConnectAdmin (admin) or dsql:DbConnect on this cluster, that --region is right, and that this host\'s clock is correct.';

/** Runs every check, each as far as its prerequisites allow, and returns them in report order. */
export async function runDoctor(request: DoctorRequest, deps: DoctorDeps = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const add = (r: CheckResult): CheckResult => { results.push(r); return r; };
  const skip = (id: string, title: string, needs: string): CheckResult => add({ id, title, status: 'skip', value: `skipped: needs ${needs}` });
  const full = request.scope === 'all';
  const raw = request.raw;

  const credentials = deps.credentials ?? createCredentials(raw.profile);
  let management = deps.management;
  if (!management) {
    try {
      const m = resolveManagementConfig(raw);
      management = createManagementApi({ region: m.region, endpointUrl: m.endpointUrl, credentials, timeoutMs: 5_000 });
    } catch { /* reported by the configuration check */ }
  }

  // 1. Configuration (looking up the service identifier for an IP endpoint, as serving does).
  let config: ProxyConfig | undefined;
  let lookupNote = '';
  try {
    const completed = await completeServiceIdentifier(raw, management);
    if (completed.lookedUp) lookupNote = ' (service identifier from GetVpcEndpointServiceName)';
    config = resolveConfig(completed.raw);
    add({ id: 'config', title: 'configuration', status: 'pass',
      value: `cluster ${config.clusterId}, endpoint ${config.endpoint.host}:${config.endpoint.port}, route ${config.route}, region ${config.region}`
        + `${config.serviceIdentifier ? `, service ${config.serviceIdentifier}` : ''}${lookupNote}` });
  } catch (error) {
    add({ id: 'config', title: 'configuration', status: 'fail', value: (error as Error).message,
      remedy: error instanceof ManagementError ? error.hint : 'Fix the flag named above (dsql-proxy --help lists them).' });
  }

  // 2. Credentials: which source supplied them, never their value.
  let credentialsOk = false;
  try {
    const resolved = typeof credentials === 'function' ? await credentials() : credentials;
    credentialsOk = true;
    add({ id: 'credentials', title: 'AWS credentials', status: 'pass', value: `resolved from ${describeCredentialSource(resolved, raw.profile)}` });
  } catch (error) {
    add({ id: 'credentials', title: 'AWS credentials', status: 'fail', value: `not resolvable: ${(error as Error).message.split('\n')[0]}`,
      remedy: `Run "aws sso login${raw.profile ? ` --profile ${raw.profile}` : ''}" if the SSO session expired, set AWS_PROFILE or --profile, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.` });
  }

  if (!config) {
    for (const [id, title] of NETWORK_CHECKS) skip(id, title, 'configuration');
    if (full) for (const [id, title] of MANAGEMENT_CHECKS) skip(id, title, 'configuration');
    skip('login', 'login and select 1', 'configuration');
    return results;
  }
  const { host, port } = config.endpoint;
  const timeoutMs = config.connectTimeoutMs;

  // 3. DNS.
  let addresses: string[] = [];
  try {
    addresses = await resolveAddresses(host, deps.resolve ?? defaultResolve, timeoutMs);
    add({ id: 'dns', title: 'endpoint name resolves', status: 'pass', value: addresses.join(', ') === host ? `${host} is an IP address` : `${host} → ${addresses.join(', ')}` });
  } catch (error) {
    add({ id: 'dns', title: 'endpoint name resolves', status: 'fail', value: (error as Error).message, remedy: (error as ConnectionFailure).hint });
  }

  // 4. TCP, per address.
  const reachable: string[] = [];
  if (addresses.length === 0) skip('tcp', `TCP to port ${port}`, 'dns');
  else {
    const parts: string[] = [];
    for (const address of addresses) {
      const started = performance.now();
      try {
        (await connectTcp(address, port, timeoutMs)).destroy();
        reachable.push(address);
        parts.push(`${address}:${port} in ${ms(performance.now() - started)}`);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        parts.push(`${address}:${port} ${code === 'ETIMEDOUT' ? `timed out after ${timeoutMs / 1000} s` : code ?? 'failed'}`);
      }
    }
    const ok = reachable.length === addresses.length;
    add({ id: 'tcp', title: `TCP to port ${port}`, status: ok ? 'pass' : 'fail', value: parts.join('; '),
      remedy: ok ? undefined : parts.some((p) => p.includes('timed out')) ? SG_REMEDY(port)
        : `Nothing accepts connections there: check the port in --endpoint (DSQL listens on 5432).` });
  }

  // 5–7. TLS (direct or after an SSLRequest); the certificate judged for each route.
  let tlsOk = false;
  if (reachable.length === 0) {
    skip('tls', TLS_TITLE, 'tcp');
    skip('cert-sni', 'certificate for the cluster name (route sni)', 'tcp');
    skip('cert-chain', 'certificate chain (route option)', 'tcp');
  } else {
    const context = upstreamSecureContext(loadTrustedCas(config.caFile));
    const address = reachable[0]!;
    const sniName = config.serviceIdentifier ? `${config.clusterId}.${config.serviceIdentifier}.${config.region}.on.aws` : undefined;
    const optionName = optionRouteServername(host);
    const inspect = (servername: string | undefined, expect: string | undefined) =>
      inspectTls(address, port, servername, expect, context, timeoutMs, config.sslNegotiation).then((r) => r, (e: Error) => e);
    const sniResult = sniName ? await inspect(sniName, sniName) : undefined;
    const optionResult = await inspect(optionName, undefined);
    const routeResult = config.route === 'sni' ? sniResult! : optionResult;
    if (routeResult instanceof Error) {
      add({ id: 'tls', title: TLS_TITLE, status: 'fail', value: routeResult.message,
        remedy: (routeResult as ConnectionFailure).hint ?? 'Check that --endpoint names the DSQL connection endpoint.' });
    } else {
      tlsOk = true;
      add({ id: 'tls', title: TLS_TITLE, status: 'pass',
        value: `${routeResult.protocol} (${config.sslNegotiation === 'direct' ? 'direct' : 'after SSL request'}) in ${ms(routeResult.handshakeMs)} with ${address}; certificate ${routeResult.subject}, valid to ${routeResult.validTo}` });
    }
    // A certificate can only be judged from a handshake that completed; when the route's own failed, say so once.
    const judge = (id: string, title: string, result: TlsInspection | Error | undefined, works: string, remedy: string): void => {
      if (!result) skip(id, title, 'a service identifier');
      else if (result instanceof Error && !tlsOk) skip(id, title, 'tls');
      else add(certCheck(id, title, result, works, remedy));
    };
    judge('cert-sni', 'certificate for the cluster name (route sni)', sniResult, `valid for ${sniName}: route sni works (full verification)`,
      `The certificate must name ${sniName}: check --cluster-id, --region and --service-identifier; a private or inspection CA goes in --ca-file. --route option needs only the chain.`);
    judge('cert-chain', 'certificate chain (route option)', optionResult, 'chain trusted: route option works (name not checked)',
      'Add the CA that issued the endpoint\'s certificate with --ca-file or NODE_EXTRA_CA_CERTS (DSQL chains to Amazon Root CA 1, already trusted).');
  }

  // 8–10. The management API.
  if (full) {
    if (!management) for (const [id, title] of MANAGEMENT_CHECKS) skip(id, title, 'a region');
    else await managementChecks(management, config, add, skip);
  }

  // 11. A real login.
  if (!tlsOk || !credentialsOk) skip('login', 'login and select 1', !credentialsOk ? 'credentials' : 'tls');
  else {
    const tokens = tokenProviderFor(config, credentials);
    const dialer = dialerFor(config, deps.resolve);
    const base: StartupParameter[] = [['user', request.user], ['database', request.database], ['application_name', 'dsql-proxy doctor']];
    try {
      const probe = await probeLogin(dialer, tokens, config.injectClusterId ? withClusterOption(base, config.clusterId) : base, request.user, timeoutMs);
      add({ id: 'login', title: 'login and select 1', status: 'pass',
        value: `as ${request.user}: connected and authenticated in ${ms(probe.loginMs)}, select 1 → ${probe.result} in ${ms(probe.queryMs)}` });
    } catch (error) {
      const failure = error as Error;
      const remedy = error instanceof ServerRejection ? AUTH_REMEDY : error instanceof ConnectionFailure ? error.hint : undefined;
      add({ id: 'login', title: 'login and select 1', status: 'fail', value: `as ${request.user}: ${failure.message}`, remedy });
    }
  }
  return results;
}

const TLS_TITLE = 'TLS handshake';
const NETWORK_CHECKS: readonly [string, string][] = [
  ['dns', 'endpoint name resolves'], ['tcp', 'TCP to the endpoint port'], ['tls', TLS_TITLE],
  ['cert-sni', 'certificate for the cluster name (route sni)'], ['cert-chain', 'certificate chain (route option)'],
];
const MANAGEMENT_CHECKS: readonly [string, string][] = [
  ['management', 'management API reachable'], ['service-identifier', 'service identifier matches the endpoint'], ['cluster-status', 'cluster status'],
];

async function managementChecks(
  api: ManagementApi, config: ProxyConfig,
  add: (r: CheckResult) => CheckResult, skip: (id: string, title: string, needs: string) => CheckResult,
): Promise<void> {
  const started = performance.now();
  const serviceName = await api.getServiceName(config.clusterId).then((r) => r, (e: ManagementError) => e);
  const reachable = !(serviceName instanceof ManagementError) || serviceName.kind === 'not-found' || serviceName.kind === 'invalid';
  if (!reachable) {
    add({ id: 'management', title: 'management API reachable', status: 'fail', value: (serviceName as ManagementError).message, remedy: (serviceName as ManagementError).hint });
    skip('service-identifier', 'service identifier matches the endpoint', 'the management API');
    skip('cluster-status', 'cluster status', 'the management API');
    return;
  }
  add({ id: 'management', title: 'management API reachable', status: 'pass', value: `${api.endpointDescription} answered in ${ms(performance.now() - started)}` });
  const notFoundRemedy = `Service name not found: the cluster id or the region is wrong. List the clusters of the region with "dsql-proxy clusters --region ${config.region}".`;
  if (serviceName instanceof ManagementError) {
    add({ id: 'service-identifier', title: 'service identifier matches the endpoint', status: 'fail', value: serviceName.message, remedy: notFoundRemedy });
  } else if (config.serviceIdentifier && serviceName.serviceIdentifier !== config.serviceIdentifier) {
    add({ id: 'service-identifier', title: 'service identifier matches the endpoint', status: 'fail',
      value: `${serviceName.serviceName} serves cluster ${config.clusterId}, but the endpoint is for ${config.serviceIdentifier}`,
      remedy: 'The endpoint belongs to another PrivateLink service: check --cluster-id and --region, or use the connection endpoint created for this cluster\'s service name.' });
  } else {
    add({ id: 'service-identifier', title: 'service identifier matches the endpoint', status: 'pass', value: `${serviceName.serviceName}` });
  }
  const cluster = await api.getCluster(config.clusterId).then((r) => r, (e: ManagementError) => e);
  if (cluster instanceof ManagementError) {
    add({ id: 'cluster-status', title: 'cluster status', status: 'fail', value: cluster.message, remedy: cluster.kind === 'not-found' ? notFoundRemedy : cluster.hint });
  } else {
    add({ id: 'cluster-status', title: 'cluster status', status: cluster.status === 'ACTIVE' ? 'pass' : 'fail', value: `${cluster.status} (${cluster.arn})`,
      remedy: cluster.status === 'ACTIVE' ? undefined : 'Connections are accepted once the cluster is ACTIVE: wait, or check why it is not (aws dsql get-cluster).' });
  }
}

function certCheck(id: string, title: string, result: TlsInspection | Error, works: string, remedy: string): CheckResult {
  if (result instanceof Error) return { id, title, status: 'fail', value: result.message, remedy };
  const problem = result.chainError ?? result.nameError;
  return problem
    ? { id, title, status: 'fail', value: problem.includes('altnames') ? problem : `${problem} (certificate names: ${result.subjectAltNames || result.subject})`, remedy }
    : { id, title, status: 'pass', value: works };
}

function ms(value: number): string {
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
}
