import { completeServiceIdentifier, ManagementError } from '../aws/management.js';
import { loadClientAccess } from '../client/access.js';
import { checkBeforeLookup, ConfigError, needsServiceIdentifierLookup, resolveConfig, type RawOptions } from '../config.js';
import { checkListeners, parseConnectRate, resolveServiceConfig, type ListenerSettings } from '../service-config.js';
import type { ServicePlan } from '../service.js';
import { loadTrustedCas } from '../upstream/trust.js';
import { managementFrom } from './management.js';
import type { Io } from './output.js';
import type { Settings } from './settings.js';

/**
 * Validates every listener, then acts: all options and files are checked (exit 2 on the first bad one) before any
 * service identifier is looked up, and every lookup is done before anything listens. Resolves with the plan, or
 * with exit code 1 when a lookup failed (the reason and the way around it printed).
 */
export async function planService(settings: Settings, io: Io): Promise<ServicePlan | number> {
  const service = resolveServiceConfig(settings.service);
  const within = <T>(index: number, check: () => T): T => whereFrom(settings, index, check);
  settings.listeners.forEach((raw, index) => within(index, () => {
    loadTrustedCas(raw.caFile); // a bad --ca-file is a usage error (exit 2) before anything is signed or dialed
    if (needsServiceIdentifierLookup(raw)) checkBeforeLookup(raw);
    else resolveConfig(raw);
    parseConnectRate(raw.maxConnectRate);
  }));

  const completed: RawOptions[] = [];
  for (const raw of settings.listeners) {
    if (!needsServiceIdentifierLookup(raw)) {
      completed.push(raw);
      continue;
    }
    try {
      completed.push((await completeServiceIdentifier(raw, managementFrom(raw))).raw);
    } catch (error) {
      if (!(error instanceof ManagementError)) throw error;
      io.err(`dsql-proxy: could not look up the service identifier of cluster ${raw.clusterId}: ${error.message}\n`
        + `${error.hint}\nOr pass --service-identifier (the last part of the endpoint service name).\n`);
      return 1;
    }
  }

  const listeners: ListenerSettings[] = completed.map((raw, index) => within(index, () => ({
    config: resolveConfig(raw),
    connectRate: parseConnectRate(raw.maxConnectRate),
  })));
  checkListeners(listeners, service.httpListen);
  // Certificates, keys and auth files of every listener: exit 2 before anything listens.
  return {
    service,
    listeners: listeners.map((listener, index) => within(index, () => ({ ...listener, access: loadClientAccess(listener.config.access) }))),
  };
}

/**
 * Runs `check` for listener `index`; a ConfigError also says where the value came from when that was the --config
 * file, and which listener it concerns when there are several.
 */
function whereFrom<T>(settings: Settings, index: number, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const { file } = settings;
    const origin = settings.origin(error.flag.replace(/^--/, ''), index);
    const several = settings.listeners.length > 1;
    const where = file && origin === 'listener entry' ? `listeners[${index}] of ${file.path}`
      : file && origin === 'file' ? (several ? `${file.path}, for listeners[${index}]` : file.path)
        : several ? `listener ${index}` : undefined;
    if (where === undefined) throw error;
    const reason = error.message.startsWith(`${error.flag}: `) ? error.message.slice(error.flag.length + 2) : error.message;
    throw new ConfigError(error.flag, `${reason} (${where})`);
  }
}
