import type { Argv, CommandModule } from 'yargs';
import { SocketInUseError } from '../proxy/unix-socket.js';
import { runDoctor } from '../doctor/doctor.js';
import { allPassed, renderReport } from '../doctor/report.js';
import { formatHostPort } from '../service-config.js';
import { startService, StartError, type RunningService, type ServicePlan } from '../service.js';
import type { CommandRunner } from './management.js';
import { COMMAND_OPTIONS } from './options.js';
import { planService } from './plan.js';
import { readSettings, type Settings } from './settings.js';

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
        'every flag is also an environment variable; --check fails fast in containers; a listener beyond loopback needs client authentication')
      .example('$0 --config /etc/dsql-proxy/clusters.json --http-listen 9090',
        'several clusters in one process (one listener each), probes and metrics on 127.0.0.1:9090')
      .epilogue('Precedence: defaults < the --config file\'s top level < DSQL_PROXY_* variables < flags < a listener\'s own entry in '
        + 'the file\'s "listeners". On SIGTERM or SIGINT the listeners stop accepting and open sessions get --max-sigterm-delay '
        + 'seconds to finish; a second signal exits at once; the exit status is 0 either way. SIGHUP re-reads every --auth-file.'),
    handler: (argv) => runner.choose(async () => {
      const settings = await readSettings(argv, runner.argv);
      for (const note of settings.overridden) runner.io.err(`dsql-proxy: note: ${note}\n`);
      // From here on a signal is never Node's default kill: before the listeners start it ends the process with 0.
      const signals = watchSignals((signal) => {
        runner.io.err(`dsql-proxy: ${signal} before the listeners started: exiting\n`);
        process.exit(0);
      });
      try {
        const plan = await planService(settings, runner.io);
        if (typeof plan === 'number') return plan;
        if (!(await checkListeners(plan, settings, runner))) return 1;
        signals.starting();
        return await startAndServe(plan, signals, runner);
      } finally {
        signals.dispose();
      }
    }),
  };
}

/** --check: the doctor's network and login checks for every listener; false when one failed (the report says which). */
async function checkListeners(plan: ServicePlan, settings: Settings, runner: CommandRunner): Promise<boolean> {
  if (!settings.check) return true;
  for (const [index, listener] of plan.listeners.entries()) {
    const raw = settings.listeners[index]!;
    const results = await runDoctor({ raw: { ...raw, serviceIdentifier: listener.config.serviceIdentifier }, user: settings.user, database: 'postgres', scope: 'network' });
    if (plan.listeners.length > 1) runner.io.err(`listener ${index} (${formatHostPort(listener.config.listen)}, cluster ${listener.config.clusterId}):\n`);
    runner.io.err(renderReport(results));
    if (!allPassed(results)) return false;
  }
  return true;
}

/** Starts every listener (a signal meanwhile is kept for once they are up), then serves until a signal stops it. */
async function startAndServe(plan: ServicePlan, signals: SignalWatch, runner: CommandRunner): Promise<number> {
  let service: RunningService;
  try {
    service = await startService(plan);
  } catch (error) {
    if (!(error instanceof StartError)) throw error;
    const which = error.listener === undefined ? ' the --http-listen server'
      : plan.listeners.length > 1 ? ` listener ${error.listener}` : '';
    runner.io.err(`dsql-proxy: cannot start${which}: ${error.message}\n${startHint(error)}`);
    return 1;
  }
  return signals.serve(service);
}

/** Signal handling of a serving process. */
interface SignalWatch {
  /** Handles the signals for `service` (including any that came while it started); resolves with the exit code. */
  serve(service: RunningService): Promise<number>;
  /** The listeners are being started: a signal from now on is kept until they are up, then drains them. */
  starting(): void;
  /** Removes the handlers. */
  dispose(): void;
}

/**
 * The first SIGTERM or SIGINT drains (readiness 503 at once, no new clients, sessions carry on up to
 * --max-sigterm-delay); a second one closes everything at once. Either way the exit status is 0: stopping on a signal
 * is the normal end of a service. SIGHUP re-reads the auth files.
 */
function watchSignals(beforeStart: (signal: NodeJS.Signals) => void): SignalWatch {
  let service: RunningService | undefined;
  let starting = false;
  const early: NodeJS.Signals[] = [];
  let stopping = false;
  let finish!: (code: number) => void;
  const exit = new Promise<number>((resolve) => { finish = resolve; });
  const reload = (): void => service?.reload();
  const stop = (signal: NodeJS.Signals): void => {
    if (!starting) {
      beforeStart(signal); // planning or --check: nothing is open that a drain would wait for
      return;
    }
    if (!service) {
      early.push(signal);
      return;
    }
    const running = service;
    const open = running.listeners.reduce((sum, listener) => sum + listener.server.openConnections, 0);
    if (stopping) {
      running.logger.info({ signal, open }, 'second signal: exiting at once');
      void running.close().then(() => finish(0));
      // Whatever still holds the event loop (a timer, a socket being torn down) must not delay an exit asked for twice.
      setTimeout(() => process.exit(0), EXIT_AT_ONCE_MS).unref();
      return;
    }
    stopping = true;
    // SIGHUP keeps its handler while draining: without one its default action would kill the process and cut every
    // session in flight (a terminal closed after Ctrl-C, a reload during a stop). Re-reading the auth files is harmless.
    running.logger.info({ signal, open }, 'stopping');
    void running.drain().then(() => {
      running.logger.info({}, 'stopped');
      finish(0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', reload);
  return {
    starting: () => { starting = true; },
    serve: (started) => {
      service = started;
      for (const signal of early.splice(0)) stop(signal);
      return exit;
    },
    dispose: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.off('SIGHUP', reload);
    },
  };
}

/** How long a second signal waits for the sockets to close before the process exits regardless. */
const EXIT_AT_ONCE_MS = 500;

/** What to do when a listener cannot start; empty when there is nothing specific to say. */
function startHint(error: StartError): string {
  if (error.code !== 'EADDRINUSE') return '';
  if (!error.config) return 'Another program already listens on that address: choose another --http-listen port.\n';
  const { config } = error;
  if (error.cause instanceof SocketInUseError) {
    return 'Another process (a local PostgreSQL, or another dsql-proxy) serves that socket: choose another --unix-socket directory '
      + 'or another --listen port (the socket is named after it).\n';
  }
  const { host, port } = config.listen;
  const other = port === 6432 ? 6433 : 6432;
  return `Another program already listens on ${host}:${port} (often a local PostgreSQL): use another port, e.g. --listen ${host}:${other}, `
    + 'and point clients at it.\n';
}
