import type { Argv, CommandModule } from 'yargs';
import { completeServiceIdentifier, ManagementError } from '../aws/management.js';
import { checkBeforeLookup, needsServiceIdentifierLookup, resolveConfig, type ProxyConfig } from '../config.js';
import { loadClientAccess } from '../client/access.js';
import { SocketInUseError } from '../proxy/unix-socket.js';
import { runDoctor } from '../doctor/doctor.js';
import { allPassed, renderReport } from '../doctor/report.js';
import { startProxy } from '../run.js';
import { loadTrustedCas } from '../upstream/trust.js';
import { managementFrom, type CommandRunner } from './management.js';
import { COMMAND_OPTIONS, toRawOptions } from './options.js';

/** The default command: listen for PostgreSQL clients and carry them to the cluster. */
export function serveCommand(runner: CommandRunner): CommandModule {
  return {
    command: ['serve', '$0'],
    describe: 'listen for PostgreSQL clients and connect them to the cluster (the default command)',
    builder: (y: Argv) => y.options(COMMAND_OPTIONS.serve)
      .example('$0 --cluster-id abcdefghijklmnopqrstuvwxyz --endpoint vpce-0123456789abcdef0-abcdefgh.dsql-fnh4.us-east-1.vpce.amazonaws.com',
        'then: psql "host=localhost user=admin dbname=postgres"')
      .example('$0 --cluster-id abcdefghijklmnopqrstuvwxyz --endpoint 10.0.1.25 --region us-east-1 --service-identifier dsql-fnh4',
        'dial an endpoint IP (e.g. over Direct Connect), no DNS needed')
      .example('DSQL_PROXY_CLUSTER_ID=… DSQL_PROXY_ENDPOINT=… DSQL_PROXY_AUTH_FILE=users.txt $0 --listen 0.0.0.0:5432 --check',
        'every flag is also an environment variable; --check fails fast in containers; a listener beyond loopback needs client authentication'),
    handler: (argv) => runner.choose(async () => {
      let raw = toRawOptions(argv);
      loadTrustedCas(raw.caFile); // a bad --ca-file is a usage error (exit 2) before anything is signed or dialed
      if (needsServiceIdentifierLookup(raw)) {
        checkBeforeLookup(raw);
        try {
          raw = (await completeServiceIdentifier(raw, managementFrom(raw))).raw;
        } catch (error) {
          if (!(error instanceof ManagementError)) throw error;
          runner.io.err(`dsql-proxy: could not look up the service identifier of cluster ${raw.clusterId}: ${error.message}\n`
            + `${error.hint}\nOr pass --service-identifier (the last part of the endpoint service name).\n`);
          return 1;
        }
      }
      const config = resolveConfig(raw);
      const access = loadClientAccess(config.access); // certificate, key and auth file: exit 2 before anything runs
      if (argv.check) {
        const results = await runDoctor({ raw, user: String(argv.user), database: 'postgres', scope: 'network' });
        runner.io.err(renderReport(results));
        if (!allPassed(results)) return 1;
      }
      let proxy: Awaited<ReturnType<typeof startProxy>>;
      try {
        proxy = await startProxy(config, { access });
      } catch (error) {
        runner.io.err(`dsql-proxy: cannot start: ${(error as Error).message}\n${startHint(error as NodeJS.ErrnoException, config)}`);
        return 1;
      }
      return new Promise<number>((resolve) => {
        const reload = (): void => proxy.reload();
        const stop = (signal: NodeJS.Signals): void => {
          process.off('SIGHUP', reload);
          proxy.logger.info({ signal, open: proxy.server.openConnections }, 'stopping');
          void proxy.close().then(() => resolve(0));
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        process.on('SIGHUP', reload);
      });
    }),
  };
}

/** What to do when the listener cannot start; empty when there is nothing specific to say. */
function startHint(error: NodeJS.ErrnoException, config: ProxyConfig): string {
  if (error.code !== 'EADDRINUSE') return '';
  if (error instanceof SocketInUseError) {
    return 'Another process (a local PostgreSQL, or another dsql-proxy) serves that socket: choose another --unix-socket directory '
      + 'or another --listen port (the socket is named after it).\n';
  }
  const { host, port } = config.listen;
  const other = port === 6432 ? 6433 : 6432;
  return `Another program already listens on ${host}:${port} (often a local PostgreSQL): use another port, e.g. --listen ${host}:${other}, `
    + 'and point clients at it.\n';
}
