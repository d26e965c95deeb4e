import type { Argv, CommandModule } from 'yargs';
import { ConfigError } from '../config.js';
import type { HostPort } from '../endpoint.js';
import { connectHost, probe } from '../http/probe.js';
import { formatHostPort, resolveServiceConfig } from '../service-config.js';
import type { CommandRunner } from './management.js';
import { COMMAND_OPTIONS } from './options.js';
import { readSettings } from './settings.js';

/** How long the probe waits for /readiness: Docker's HEALTHCHECK default timeout is 30 s, a live proxy answers in ms. */
export const PROBE_TIMEOUT_MS = 3_000;

/** Longest body echoed in the one-line verdict. */
const MAX_BODY_CHARS = 200;

/**
 * `healthcheck`: asks /readiness of the dsql-proxy this environment configures (its --http-listen, from the same flags,
 * DSQL_PROXY_* variables and --config as serve) and exits 0 when it answers 200, else 1: a Docker HEALTHCHECK for an
 * image without curl.
 */
export function healthcheckCommand(runner: CommandRunner): CommandModule {
  return {
    command: 'healthcheck',
    describe: 'exit 0 when the /readiness of the running proxy (at --http-listen) answers 200, else 1 (for Docker HEALTHCHECK)',
    builder: (y: Argv) => y.options(COMMAND_OPTIONS.healthcheck)
      .example('DSQL_PROXY_HTTP_LISTEN=0.0.0.0:9090 $0 healthcheck', 'asks http://127.0.0.1:9090/readiness (a wildcard address is asked on loopback)'),
    handler: (argv) => runner.choose(async () => {
      const settings = await readSettings(argv, runner.argv);
      const { httpListen } = resolveServiceConfig(settings.service);
      if (!httpListen) {
        throw new ConfigError('--http-listen', 'required: healthcheck asks /readiness of a dsql-proxy serving --http-listen; '
          + 'give it the same --http-listen, DSQL_PROXY_HTTP_LISTEN or --config as the proxy');
      }
      const url = `http://${formatHostPort({ host: connectHost(httpListen.host), port: httpListen.port })}/readiness`;
      const verdict = await probeReadiness(httpListen, PROBE_TIMEOUT_MS);
      if (verdict.ready) {
        runner.io.out(`ready: ${url} answered ${verdict.status}\n`);
        return 0;
      }
      runner.io.err(`dsql-proxy healthcheck: not ready: ${url} ${verdict.reason}\n`);
      return 1;
    }),
  };
}

/** The answer of /readiness: ready on 200, else why not in a few words. */
export type Readiness = { ready: true; status: number } | { ready: false; reason: string };

/** GETs /readiness at `address` (a wildcard address is asked on loopback) within `timeoutMs`. Never rejects. */
export async function probeReadiness(address: HostPort, timeoutMs: number): Promise<Readiness> {
  try {
    const { status, body } = await probe({ ...address, path: '/readiness' }, timeoutMs);
    const text = body.trim().replace(/\s+/g, ' ').slice(0, MAX_BODY_CHARS);
    return status === 200 ? { ready: true, status } : { ready: false, reason: `answered ${status}${text ? `: ${text}` : ''}` };
  } catch (error) {
    // probe's message names the URL, which the caller's line already does: keep only why.
    const cause = (error as Error & { cause?: NodeJS.ErrnoException }).cause;
    if (cause?.code) return { ready: false, reason: `could not be reached: ${cause.code}` };
    if (cause) return { ready: false, reason: `answer cut off: ${cause.message}` };
    return { ready: false, reason: `did not answer within ${timeoutMs / 1000} s` };
  }
}
