import type { ServerIdentity } from './certs.js';

/** What the emulator saw on one connection, for assertions. */
export interface EmulatorRecord {
  sni?: string | undefined;
  /** True when the client opened TLS directly (PostgreSQL 17 style) instead of after an SSLRequest. */
  directTls?: boolean;
  /** The ALPN protocol negotiated, if any. */
  alpn?: string | undefined;
  /** `options` exactly as received. */
  options?: string | undefined;
  /** `database` exactly as received (undefined when the StartupMessage had none). */
  database?: string | undefined;
  /** The `amzn-cluster-id` value found in `options`, if the client sent one. */
  clusterFromOptions?: string | undefined;
  clusterId?: string;
  user?: string;
  tokenHostname?: string;
  action?: string;
  /** True once the token verified. */
  authenticated?: boolean;
  /** The message of each statement refused as DSQL refuses it (SET outside the allowlist, pg_backend_pid…). */
  refusals?: string[];
  /** Why the connection was refused. */
  rejection?: string;
  /** 'startup' or 'cancel'. */
  kind?: 'startup' | 'cancel';
  /** The process id a CancelRequest named. */
  processId?: number;
  /** For a cancel: whether it was passed on to PostgreSQL. */
  forwarded?: boolean;
}

/** Emulator set-up. */
export interface EmulatorOptions {
  readonly postgres: { host: string; port: number };
  readonly identity: ServerIdentity;
  readonly region: string;
  readonly serviceIdentifier: string;
  readonly clusters: readonly string[];
  /** Secret keys by access key id. */
  readonly secrets: ReadonlyMap<string, string>;
  /** Authentication request to send instead of cleartext (a fault knob). */
  readonly authRequest?: 'cleartext' | 'sasl';
  /** Shifts the emulator's clock (ms) to test expiry. */
  readonly clockOffsetMs?: number;
  /**
   * Bench only, never in tests: accept `password` instead of a token, a connection without SNI, and
   * `cluster` when none is named, because PgBouncer sends no SNI for an IP and no startup options.
   */
  readonly benchOnlyStaticLogin?: { readonly password: string; readonly cluster: string };
  /** Answer a successful login and simple queries itself, with no PostgreSQL backend (load tests and the bench). */
  readonly noBackend?: boolean;
  /** Keep a record per connection (default true); long bench runs turn it off. */
  readonly recordConnections?: boolean;
  /** A fault to inject, for the resilience tests; settable on a running emulator through `fault`. */
  readonly fault?: EmulatorFault;
}

/** Misbehaviours the emulator can be told to show. */
export type EmulatorFault =
  | { readonly kind: 'close-on-accept' }
  | { readonly kind: 'ignore-ssl-request' }
  | { readonly kind: 'refuse-tls' }
  | { readonly kind: 'stall-tls' }
  /** Answers a direct TLS ClientHello as a pre-17 PostgreSQL would: a plaintext FATAL about the startup packet. */
  | { readonly kind: 'no-direct-tls' }
  /**
   * Completes the TLS handshake (direct or after SSLRequest) without selecting any ALPN protocol, as a server
   * before PostgreSQL 17 does; like such a server it does not refuse direct TLS for it.
   */
  | { readonly kind: 'no-alpn' }
  | { readonly kind: 'garbage-auth' }
  /** Relays normally, then sends FATAL 57P01 and closes after `ms` (DSQL's 60-minute limit, shortened). */
  | { readonly kind: 'terminate-after'; readonly ms: number }
  /** Relays normally, then drops the connection without a word once `bytes` went to the client. */
  | { readonly kind: 'close-mid-result'; readonly bytes: number }
