import type { Argv, CommandModule } from 'yargs';
import { createCredentials } from '../aws/credentials.js';
import { ADMIN_ROLE, createTokenProvider } from '../aws/token.js';
import { ConfigError, resolveConfig, resolveManagementConfig } from '../config.js';
import { publicClusterHostname } from '../endpoint.js';
import type { CommandRunner } from './management.js';
import { AWS_OPTIONS, CONNECTION_OPTIONS, toRawOptions } from './options.js';

/** `token`: prints an IAM token like `aws dsql generate-db-connect[-admin]-auth-token`. */
export function tokenCommand(runner: CommandRunner): CommandModule {
  return {
    command: 'token',
    describe: 'print an IAM auth token (as aws dsql generate-db-connect-admin-auth-token does)',
    builder: (y: Argv) => y.options({
      ...AWS_OPTIONS,
      'cluster-id': CONNECTION_OPTIONS['cluster-id'],
      endpoint: CONNECTION_OPTIONS.endpoint,
      'service-identifier': CONNECTION_OPTIONS['service-identifier'],
      route: CONNECTION_OPTIONS.route,
      hostname: { type: 'string', describe: 'hostname to sign for (default: as serving would, from --cluster-id and --endpoint/--route)' },
      admin: { type: 'boolean', describe: 'DbConnectAdmin token for the admin role (the default)' },
      user: { type: 'string', describe: 'a non-admin role: DbConnect token' },
      expires: { type: 'number', default: 900, describe: 'lifetime in seconds (1-604800)' },
    }).conflicts('admin', 'user'),
    handler: (argv) => runner.run(async () => {
      const raw = toRawOptions(argv);
      const expires = Number(argv.expires);
      if (!Number.isInteger(expires) || expires < 1 || expires > 604_800) throw new ConfigError('--expires', 'must be a whole number of seconds from 1 to 604800');
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
