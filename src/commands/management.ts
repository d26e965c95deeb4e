import type { Argv, CommandModule } from 'yargs';
import { createCredentials } from '../aws/credentials.js';
import { createManagementApi, type ClusterDetails, type ManagementApi } from '../aws/management.js';
import { resolveManagementConfig, type RawOptions } from '../config.js';
import { privateClusterHostname, publicClusterHostname } from '../endpoint.js';
import { COMMAND_OPTIONS, toRawOptions } from './options.js';
import { json, table, type Io } from './output.js';

/**
 * Takes the body of the command yargs chose. The CLI runs it only after the whole command line has
 * validated, so that a usage error never follows a command that already listened, signed or connected.
 */
export interface CommandRunner {
  /** Records `body` (resolving to the exit code) as the command to run. */
  choose(body: () => Promise<number>): void;
  readonly io: Io;
  /** The command line as given (serve tells the flags the user gave from yargs' defaults with it). */
  readonly argv: readonly string[];
}

/** Creates the management API from raw options (region, endpoint URL, profile). */
export function managementFrom(raw: RawOptions): ManagementApi {
  const config = resolveManagementConfig(raw);
  return createManagementApi({ region: config.region, endpointUrl: config.endpointUrl, credentials: createCredentials(config.profile) });
}

function describeCluster(c: ClusterDetails): Record<string, string> {
  return {
    identifier: c.identifier,
    status: c.status,
    arn: c.arn,
    created: c.creationTime?.toISOString() ?? '',
    'deletion protection': c.deletionProtectionEnabled === undefined ? '' : c.deletionProtectionEnabled ? 'on' : 'off',
    'multi-region peers': c.peers.length ? c.peers.join(', ') : 'none',
    ...(c.witnessRegion ? { 'witness region': c.witnessRegion } : {}),
    ...(c.endpoint ? { endpoint: c.endpoint } : {}),
  };
}

function keyValues(record: Record<string, string>): string {
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  return Object.entries(record).map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n';
}

/** `clusters`, `cluster <id>` and `service-name <id>`: the management API through the management endpoint. */
export function managementCommands(runner: CommandRunner): CommandModule[] {
  const { io } = runner;
  const clusters: CommandModule = {
    command: 'clusters',
    describe: 'list the clusters of a region (ListClusters, all pages)',
    builder: (y: Argv) => y.options(COMMAND_OPTIONS.clusters),
    handler: (argv) => runner.choose(async () => {
      const api = managementFrom(toRawOptions(argv));
      const list = await api.listClusters();
      const details = argv.details ? await Promise.all(list.map((c) => api.getCluster(c.identifier))) : undefined;
      if (argv.json) io.out(json(details ?? list));
      else if (details) io.out(table(['IDENTIFIER', 'STATUS', 'CREATED', 'DELETION PROTECTION', 'ARN'], details.map((c) => {
        const d = describeCluster(c);
        return [c.identifier, c.status, d.created!, d['deletion protection']!, c.arn];
      })));
      else io.out(table(['IDENTIFIER', 'ARN'], list.map((c) => [c.identifier, c.arn])));
      return 0;
    }),
  };
  const cluster: CommandModule = {
    command: 'cluster <id>',
    describe: 'show one cluster (GetCluster)',
    builder: (y: Argv) => y.positional('id', { type: 'string', describe: 'cluster identifier' }).options(COMMAND_OPTIONS.cluster),
    handler: (argv) => runner.choose(async () => {
      const details = await managementFrom(toRawOptions(argv)).getCluster(String(argv.id));
      io.out(argv.json ? json(details) : keyValues(describeCluster(details)));
      return 0;
    }),
  };
  const serviceName: CommandModule = {
    command: 'service-name <id>',
    describe: 'the PrivateLink service name of a cluster and every name built from it (GetVpcEndpointServiceName)',
    builder: (y: Argv) => y.positional('id', { type: 'string', describe: 'cluster identifier' })
      .options(COMMAND_OPTIONS['service-name']),
    handler: (argv) => runner.choose(async () => {
      const raw = toRawOptions(argv);
      const { region } = resolveManagementConfig(raw);
      const id = String(argv.id);
      const service = await managementFrom(raw).getServiceName(id);
      const endpoint = raw.endpoint ?? `<vpce-….${service.serviceIdentifier}.${region}.vpce.amazonaws.com>`;
      const names = {
        serviceName: service.serviceName,
        serviceIdentifier: service.serviceIdentifier,
        privateDnsName: privateClusterHostname(id, service.serviceIdentifier, region),
        cnamePattern: `*.${service.serviceIdentifier}.${region}.on.aws`,
        noDnsTokenHostname: publicClusterHostname(id, region),
        ...(service.clusterVpcEndpoint ? { clusterVpcEndpoint: service.clusterVpcEndpoint } : {}),
        command: `dsql-proxy --cluster-id ${id} --endpoint ${endpoint}${/^[\d.:[\]]+$/.test(endpoint) ? ` --region ${region} --service-identifier ${service.serviceIdentifier}` : ''}`,
      };
      io.out(argv.json ? json(names) : keyValues({
        'service name': names.serviceName,
        'service identifier': names.serviceIdentifier,
        'private DNS name (in the VPC)': names.privateDnsName,
        'CNAME for peered VPCs / Direct Connect': `${names.cnamePattern} → the endpoint's DNS name`,
        'token hostname without DNS': names.noDnsTokenHostname,
        ...(service.clusterVpcEndpoint ? { 'cluster VPC endpoint': service.clusterVpcEndpoint } : {}),
        'dsql-proxy': names.command,
      }));
      return 0;
    }),
  };
  return [clusters, cluster, serviceName];
}
