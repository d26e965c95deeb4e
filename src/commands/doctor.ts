import type { Argv, CommandModule } from 'yargs';
import { runDoctor } from '../doctor/doctor.js';
import { allPassed, renderJson, renderReport } from '../doctor/report.js';
import type { CommandRunner } from './management.js';
import { COMMAND_OPTIONS, toRawOptions } from './options.js';

/** `doctor`: every check of the PrivateLink guide's common-issues table, each with its measured value. */
export function doctorCommand(runner: CommandRunner): CommandModule {
  return {
    command: 'doctor',
    describe: 'check configuration, credentials, DNS, TCP 5432, TLS and certificates, the management API, cluster status and a real login',
    builder: (y: Argv) => y.options(COMMAND_OPTIONS.doctor),
    handler: (argv) => runner.choose(async () => {
      const results = await runDoctor({ raw: toRawOptions(argv), user: String(argv.user), database: String(argv.database), scope: 'all' });
      runner.io.out(argv.json ? renderJson(results) : renderReport(results));
      return allPassed(results) ? 0 : 1;
    }),
  };
}
