import { createCredentials, describeCredentialSource } from '../aws/credentials.js';
import { completeServiceIdentifier, createManagementApi, ManagementError, type ManagementApi } from '../aws/management.js';
import type { CredentialSource } from '../aws/token.js';
import { dialerFor, tokenProviderFor } from '../connect-parts.js';
import { resolveConfig, resolveManagementConfig, type ManagementConfig, type ProxyConfig, type RawOptions, type Route } from '../config.js';
import { withClusterOption, type StartupParameter } from '../protocol/startup.js';
import { ServerRejection } from '../proxy/authenticate.js';
import { ConnectionFailure } from '../proxy/ports.js';
import { loadTrustedCas } from '../upstream/trust.js';
import { connectTcp, defaultResolve, resolveAddresses, upstreamSecureContext } from '../upstream/dialer.js';
import { certificateCheckOf, describeCertificateNames, judgeCertificate, routePlans, type RoutePlan } from './certificates.js';
import { MANAGEMENT_CHECKS, managementChecks, unreachableAsWarning, type ManagementOutcome } from './management-checks.js';
import { inspectTls, probeLogin, type TlsInspection } from './probes.js';
import { ms } from './report.js';

/** Outcome of one check; `warn` is a problem that does not stop serving, so it does not fail the run. */
export type CheckStatus = 'pass' | 'fail' | 'warn' | 'skip';

/** One line of the doctor's report. */
export interface CheckResult {
  readonly id: string;
  readonly title: string;
  readonly status: CheckStatus;
  /** What was measured or found. */
  readonly value: string;
  /** For a failure or warning: what to do, from the PrivateLink guide's common-issues table. */
  readonly remedy?: string | undefined;
}

/** What to check and as whom. */
export interface DoctorRequest {
  readonly raw: RawOptions;
  /** Role for the login check (default admin). */
  readonly user?: string | undefined;
  /** Database for the login check (default postgres, DSQL's only database). */
  readonly database?: string | undefined;
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
const DATABASE_REMEDY = 'DSQL has one database, postgres: drop --database or pass --database postgres.';

/** Runs every check, each as far as its prerequisites allow, and returns them in report order. */
export async function runDoctor(request: DoctorRequest, deps: DoctorDeps = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const add = (r: CheckResult): CheckResult => { results.push(r); return r; };
  const skip = (id: string, title: string, needs: string): CheckResult => add({ id, title, status: 'skip', value: `skipped: needs ${needs}` });
  const full = request.scope === 'all';
  const raw = request.raw;
  const user = request.user ?? 'admin';
  const database = request.database ?? 'postgres';

  const credentials = deps.credentials ?? createCredentials(raw.profile);
  let managementConfig: ManagementConfig | undefined;
  try {
    managementConfig = resolveManagementConfig(raw);
  } catch { /* reported by the configuration check */ }
  const management = deps.management ?? (managementConfig
    && createManagementApi({ region: managementConfig.region, endpointUrl: managementConfig.endpointUrl, credentials, timeoutMs: 5_000 }));

  // 1. Configuration (looking up the service identifier for an IP endpoint, as serving does).
  let config: ProxyConfig | undefined;
  let completedRaw = raw;
  let lookupNote = '';
  try {
    const completed = await completeServiceIdentifier(raw, management);
    if (completed.lookedUp) lookupNote = ' (service identifier from GetVpcEndpointServiceName)';
    completedRaw = completed.raw;
    config = resolveConfig(completedRaw);
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

  // 5–7. TLS as the configured route starts it, then the certificate judged for each route as serving would judge it.
  let tlsOk = false;
  if (reachable.length === 0) for (const [id, title] of NETWORK_CHECKS.slice(2)) skip(id, title, 'tcp');
  else tlsOk = await tlsChecks(config, routePlans(completedRaw, config), reachable[0]!, add);

  // 8–10. The management API.
  let managementOutcome: ManagementOutcome | undefined;
  if (full) {
    if (!management) for (const [id, title] of MANAGEMENT_CHECKS) skip(id, title, 'a region');
    else managementOutcome = await managementChecks(management, config, add, skip);
  }

  // 11. A real login, as `user` on `database`, through the dialer serving uses.
  let loginOk = false;
  if (!tlsOk || !credentialsOk) skip('login', 'login and select 1', !credentialsOk ? 'credentials' : 'tls');
  else {
    const tokens = tokenProviderFor(config, credentials);
    const dialer = dialerFor(config, deps.resolve);
    const base: StartupParameter[] = [['user', user], ['database', database], ['application_name', 'dsql-proxy doctor']];
    try {
      const probe = await probeLogin(dialer, tokens, config.injectClusterId ? withClusterOption(base, config.clusterId) : base, user, timeoutMs);
      loginOk = true;
      add({ id: 'login', title: 'login and select 1', status: 'pass',
        value: `as ${user}: connected and authenticated in ${ms(probe.loginMs)}, select 1 → ${probe.result} in ${ms(probe.queryMs)}` });
    } catch (error) {
      const failure = error as Error;
      const remedy = error instanceof ServerRejection ? (error.fields.code === INVALID_CATALOG_NAME ? DATABASE_REMEDY : AUTH_REMEDY)
        : error instanceof ConnectionFailure ? error.hint : undefined;
      add({ id: 'login', title: 'login and select 1', status: 'fail', value: `as ${user}: ${failure.message}`, remedy });
    }
  }

  // A login that works proves the connection path; the management API out of reach then only limits what was checked.
  if (managementOutcome?.unreachable && loginOk) {
    const index = results.findIndex((r) => r.id === 'management');
    results[index] = unreachableAsWarning(results[index]!, config.region);
  }
  return results;
}

const TLS_TITLE = 'TLS handshake';
/** SQLSTATE of a database that does not exist. */
const INVALID_CATALOG_NAME = '3D000';
const NETWORK_CHECKS: readonly [string, string][] = [
  ['dns', 'endpoint name resolves'], ['tcp', 'TCP to the endpoint port'], ['tls', TLS_TITLE],
  ...(['sni', 'option'] as const).map((route): [string, string] => { const c = certificateCheckOf(route); return [c.id, c.title]; }),
];

/**
 * The TLS check (the configured route's handshake) and one certificate check per route; true when the configured
 * route's handshake completed. A certificate is judged only from a handshake that completed; only the configured
 * route's judgement can fail the run.
 */
async function tlsChecks(
  config: ProxyConfig, plans: readonly RoutePlan[], address: string, add: (r: CheckResult) => CheckResult,
): Promise<boolean> {
  const { port } = config.endpoint;
  const context = upstreamSecureContext(loadTrustedCas(config.caFile));
  // One handshake per SNI: both routes may send the same one.
  const handshakes = new Map<string, Promise<TlsInspection | Error>>();
  const inspect = (servername: string | undefined): Promise<TlsInspection | Error> => {
    const key = servername ?? '';
    if (!handshakes.has(key)) {
      handshakes.set(key, inspectTls(address, port, servername, context, config.connectTimeoutMs, config.sslNegotiation).then((r) => r, (e: Error) => e));
    }
    return handshakes.get(key)!;
  };

  const routeResult = await inspect(config.servername);
  const tlsOk = !(routeResult instanceof Error);
  if (routeResult instanceof Error) {
    add({ id: 'tls', title: TLS_TITLE, status: 'fail', value: routeResult.message,
      remedy: (routeResult as ConnectionFailure).hint ?? 'Check that --endpoint names the DSQL connection endpoint.' });
  } else {
    add({ id: 'tls', title: TLS_TITLE, status: 'pass',
      value: `${routeResult.protocol} (${config.sslNegotiation === 'direct' ? 'direct' : 'after SSL request'}) in ${ms(routeResult.handshakeMs)} with ${address}; `
        + `certificate for ${describeCertificateNames(routeResult.certificate)}, valid to ${routeResult.certificate.valid_to ?? ''}` });
  }

  const verdicts = new Map<Route, CheckResult>();
  for (const plan of plans) verdicts.set(plan.route, await judgeRoute(plan, inspect, tlsOk, config));
  // When the configured route fails and the other works with this certificate, the way out may simply be the other route.
  const other: Route = config.route === 'sni' ? 'option' : 'sni';
  const own = verdicts.get(config.route);
  if (own?.status === 'fail' && verdicts.get(other)?.status === 'pass') {
    verdicts.set(config.route, { ...own, remedy: `${own.remedy ?? ''} Or use --route ${other}, which works with this certificate.`.trim() });
  }
  // The route not in use cannot break serving (the endpoint may even present another certificate for its SNI): a warning.
  const unused = verdicts.get(other);
  if (unused?.status === 'fail') verdicts.set(other, { ...unused, status: 'warn', remedy: `Matters only with --route ${other}. ${unused.remedy ?? ''}`.trim() });
  for (const verdict of verdicts.values()) add(verdict);
  return tlsOk;
}

/** One route's certificate check: skipped when the route cannot be used here or no handshake completed. */
async function judgeRoute(
  plan: RoutePlan, inspect: (servername: string | undefined) => Promise<TlsInspection | Error>, tlsOk: boolean, config: ProxyConfig,
): Promise<CheckResult> {
  const { id, title } = certificateCheckOf(plan.route);
  if ('unusable' in plan) return { id, title, status: 'skip', value: `route ${plan.route} cannot be used here: ${plan.unusable}` };
  const result = await inspect(plan.servername);
  if (result instanceof Error) {
    return tlsOk ? { id, title, status: 'fail', value: result.message, remedy: (result as ConnectionFailure).hint } : { id, title, status: 'skip', value: 'skipped: needs tls' };
  }
  const verdict = judgeCertificate(plan.names, result, config);
  return verdict.ok
    ? { id, title, status: 'pass', value: `${verdict.value}: route ${plan.route} works` }
    : { id, title, status: 'fail', value: verdict.value, remedy: verdict.remedy };
}
