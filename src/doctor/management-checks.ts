import { ManagementError, type ManagementApi } from '../aws/management.js';
import type { ProxyConfig } from '../config.js';
import type { CheckResult } from './doctor.js';
import { ms } from './report.js';

/** Titles of the management checks, in report order. */
export const MANAGEMENT_CHECKS: readonly [string, string][] = [
  ['management', 'management API reachable'], ['service-identifier', 'service identifier matches the endpoint'], ['cluster-status', 'cluster status'],
];

/** What the doctor needs to know about the management checks once the login has run. */
export interface ManagementOutcome {
  /** True when the API could not be reached at all (refused, timed out, not resolvable), as opposed to answering. */
  readonly unreachable: boolean;
}

type Add = (r: CheckResult) => CheckResult;
type Skip = (id: string, title: string, needs: string) => CheckResult;

/** Asks the management API for the cluster's service name and status and checks them against the configuration. */
export async function managementChecks(api: ManagementApi, config: ProxyConfig, add: Add, skip: Skip): Promise<ManagementOutcome> {
  const started = performance.now();
  const serviceName = await api.getServiceName(config.clusterId).then((r) => r, (e: ManagementError) => e);
  const answered = !(serviceName instanceof ManagementError) || serviceName.kind === 'not-found' || serviceName.kind === 'invalid';
  if (!answered) {
    add({ id: 'management', title: 'management API reachable', status: 'fail', value: serviceName.message, remedy: serviceName.hint });
    skip('service-identifier', 'service identifier matches the endpoint', 'the management API');
    skip('cluster-status', 'cluster status', 'the management API');
    return { unreachable: serviceName.kind === 'unreachable' };
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
    add({ id: 'cluster-status', title: 'cluster status', status: 'fail', value: cluster.message,
      remedy: cluster.kind === 'not-found' ? notFoundRemedy : cluster.hint });
  } else {
    add({ id: 'cluster-status', title: 'cluster status', status: cluster.status === 'ACTIVE' ? 'pass' : 'fail', value: `${cluster.status} (${cluster.arn})`,
      remedy: cluster.status === 'ACTIVE' ? undefined : 'Connections are accepted once the cluster is ACTIVE: wait, or check why it is not (aws dsql get-cluster).' });
  }
  return { unreachable: false };
}

/**
 * The management check turned into a warning: the login proved the connection endpoint works, and a host inside a
 * PrivateLink-only VPC reaches that endpoint but not the regional API.
 */
export function unreachableAsWarning(result: CheckResult, region: string): CheckResult {
  return { ...result, status: 'warn',
    remedy: 'The login passed, so serving works without this API (it is needed only to look up the service identifier of an IP endpoint). '
      + `Inside a PrivateLink-only VPC the regional API is out of reach: to run these checks, give --endpoint-url the management VPC endpoint `
      + `(service com.amazonaws.${region}.dsql), or run the doctor where the API is reachable.` };
}
