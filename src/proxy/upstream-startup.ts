import { SqlState } from '../protocol/codes.js';
import { isAllowedParameter } from '../compat/policy.js';
import { dropSettings, takeClusterOptions, withDatabase } from '../protocol/rewrite.js';
import {
  negotiateVersion, startupParameter, withClusterOption, type StartupMessage, type StartupParameter,
} from '../protocol/startup.js';
import { ConnectionFailure } from './ports.js';

/** DSQL's only database (facts: a cluster has exactly one database). */
export const DSQL_DATABASE = 'postgres';

/** How the proxy rewrites a client's StartupMessage for DSQL. */
export interface StartupRules {
  /** The one cluster this proxy serves. */
  readonly clusterId: string;
  /** Append `-c amzn-cluster-id=<id>` to `options`. */
  readonly injectClusterId: boolean;
  /** Send the client's database as asked instead of `postgres`. */
  readonly keepDatabase: boolean;
  /** Keep settings DSQL refuses out of the StartupMessage (the SQL compatibility layer; off with --no-sql-compat). */
  readonly sqlCompat?: boolean;
}

/** The StartupMessage to send upstream, and what the client asked for. */
export interface UpstreamStartup {
  readonly user: string;
  /** The database sent upstream. */
  readonly database: string;
  /** The database the client asked for, when it differs from the one sent. */
  readonly requestedDatabase: string | undefined;
  readonly parameters: readonly StartupParameter[];
  /** Set when the client must first be sent NegotiateProtocolVersion (3.0, these options unsupported). */
  readonly negotiate: readonly string[] | undefined;
  /** Settings kept from DSQL because it refuses them (e.g. node-postgres' statement_timeout), by name. */
  readonly droppedSettings: readonly string[];
}

/**
 * Builds the upstream StartupMessage from the client's: `_pq_.` options out (answered by negotiation), the
 * client's own `amzn-cluster-id` out (a different cluster is refused: the proxy serves one), database `postgres`
 * unless told to keep it, then the proxy's cluster option when the route calls for it. Throws ConnectionFailure.
 */
export function upstreamStartup(message: StartupMessage, rules: StartupRules): UpstreamStartup {
  const user = startupParameter(message, 'user');
  if (!user) {
    throw new ConnectionFailure(SqlState.invalidAuthorization, 'no PostgreSQL user name specified in startup packet',
      'Set the user, e.g. psql "host=localhost user=admin dbname=postgres".');
  }
  const negotiation = negotiateVersion(message);
  const taken = takeClusterOptions(negotiation.parameters);
  const foreign = taken.clusterIds.find((id) => id.trim().toLowerCase() !== rules.clusterId);
  if (foreign !== undefined) {
    throw new ConnectionFailure(SqlState.rejectedEstablishment,
      `this dsql-proxy serves cluster ${rules.clusterId}, but the client's options name cluster "${foreign}"`,
      'Remove amzn-cluster-id from the client\'s options (PGOPTIONS): the proxy names its cluster itself. '
      + 'To reach another cluster, run a dsql-proxy for it.');
  }
  let parameters = lastOfEach(taken.parameters);
  let droppedSettings: readonly string[] = [];
  if (rules.sqlCompat !== false) {
    // DSQL accepts only its allowlisted settings: a client's timeouts in the startup packet would fail the login.
    ({ parameters, dropped: droppedSettings } = dropSettings(parameters, (name) => isAllowedParameter(name)));
  }
  const asked = startupParameter(message, 'database') ?? user; // PostgreSQL's default
  let database = asked;
  if (!rules.keepDatabase) {
    parameters = withDatabase(parameters, DSQL_DATABASE).parameters;
    database = DSQL_DATABASE;
  }
  if (rules.injectClusterId) parameters = withClusterOption(parameters, rules.clusterId);
  return {
    user,
    database,
    requestedDatabase: asked === database ? undefined : asked,
    parameters,
    negotiate: negotiation.mustNegotiate ? negotiation.unsupportedOptions : undefined,
    droppedSettings: [...new Set(droppedSettings)],
  };
}

/**
 * Keeps only the last of a repeated parameter. PostgreSQL lets the last win, and so do the proxy's checks (the role
 * --allow-roles, the password and the certificate are judged against); sending the repeats on would leave the
 * server free to pick another `user` than the one the proxy admitted.
 */
function lastOfEach(parameters: readonly StartupParameter[]): readonly StartupParameter[] {
  const names = new Set<string>();
  const kept: StartupParameter[] = [];
  for (let i = parameters.length - 1; i >= 0; i--) {
    const parameter = parameters[i]!;
    if (names.has(parameter[0])) continue;
    names.add(parameter[0]);
    kept.unshift(parameter);
  }
  return kept.length === parameters.length ? parameters : kept;
}
