/** dsql-proxy's programmatic API: configuration, the proxy server and its parts. */
export { ConfigError, DEFAULTS, resolveConfig, type ProxyConfig, type RawOptions, type Route } from './config.js';
export { parseEndpointName, parseHostPort, privateClusterHostname, publicClusterHostname } from './endpoint.js';
export { createLogger } from './log.js';
export { startProxy, type ProxyOverrides, type RunningProxy } from './run.js';
export { startService, StartError, type ListenerPlan, type RunningService, type ServiceOverrides, type ServicePlan } from './service.js';
export { resolveServiceConfig, SERVICE_DEFAULTS, type ServiceConfig } from './service-config.js';
export { parseConfigFile, type ConfigFile } from './config-file.js';
export { ProxyServer } from './proxy/server.js';
export { ConnectionFailure, type Clock, type Dialer, type Logger, type TokenProvider, type UpstreamConnection } from './proxy/ports.js';
export { createDialer, type DialerOptions } from './upstream/dialer.js';
export { createTokenProvider, ADMIN_ROLE } from './aws/token.js';
export { createManagementApi, ManagementError, type ManagementApi, type ClusterDetails, type ClusterSummary } from './aws/management.js';
export { createCredentials, describeCredentialSource } from './aws/credentials.js';
export { runDoctor, type CheckResult, type DoctorRequest } from './doctor/doctor.js';
export { renderReport, renderJson } from './doctor/report.js';
export { main } from './cli.js';
