import type { Argv, CommandModule } from 'yargs';
import { createCredentials } from '../aws/credentials.js';
import { ADMIN_ROLE, createTokenProvider } from '../aws/token.js';
import { ConfigError, parseTokenLifetime, resolveConfig, resolveManagementConfig } from '../config.js';
import { publicClusterHostname } from '../endpoint.js';
import type { CommandRunner } from './management.js';
import { COMMAND_OPTIONS, toRawOptions } from './options.js';

/** `token`: prints an IAM token like `aws dsql generate-db-connect[-admin]-auth-token`. */
export function tokenCommand(runner: CommandRunner): CommandModule {
  return {
    command: 'token',
    describe: 'print an IAM auth token (as aws dsql generate-db-connect-admin-auth-token does)',
    builder: (y: Argv) => y.options(COMMAND_OPTIONS.token).conflicts('admin', 'user'),
    handler: (argv) => runner.choose(async () => {
      const raw = toRawOptions(argv);
      const expires = parseTokenLifetime(typeof argv.expires === 'string' || typeof argv.expires === 'number' ? argv.expires : undefined, '--expires');
      let hostname = typeof argv.hostname === 'string' ? argv.hostname : undefined;
      let region: string;
      if (!hostname && raw.endpoint) {
        const config = resolveConfig(raw);
        hostname = config.tokenHostname;
        region = config.region;
      } else {
        region = resolveManagementConfig(raw).region;
        if (!hostname) {
          if (!raw.clusterId) throw new ConfigError('--hostname', 'required, or give --cluster-id (with --endpoint to sign as serving would)');
          hostname = publicClusterHostname(raw.clusterId, region);
        }
      }
      const user = typeof argv.user === 'string' && argv.user !== '' ? argv.user : ADMIN_ROLE;
      const tokens = createTokenProvider({ hostname, region, expiresInSeconds: expires, credentials: createCredentials(raw.profile), profile: raw.profile });
      runner.io.out(`${await tokens.token(user)}\n`);
      return 0;
    }),
  };
}
