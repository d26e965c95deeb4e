import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import type { HostPort } from './endpoint.js';

/** Client-side options as the command line and environment give them, before validation. */
export interface RawAccessOptions {
  authFile?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  tlsClientCa?: string | undefined;
  requireTls?: boolean | undefined;
  /** Comma-separated role names, as typed. */
  allowRoles?: string | undefined;
  /** Comma-separated CIDR blocks, as typed. */
  allowCidr?: string | undefined;
  unixSocket?: string | undefined;
  /** Octal file mode, as typed (e.g. 0600). */
  unixSocketMode?: string | number | undefined;
  allowUnauthenticated?: boolean | undefined;
}

/** Files of the local TLS identity clients see. */
export interface LocalTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA that client certificates must chain to; when set, every client must present one whose CN is its role. */
  readonly clientCaFile: string | undefined;
}

/** A CIDR block clients may connect from. */
export interface CidrBlock {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** Who may connect and how they prove it; validated, immutable. */
export interface AccessConfig {
  /** PgBouncer-style userlist.txt of SCRAM-SHA-256 verifiers; every client must authenticate against it. */
  readonly authFile: string | undefined;
  readonly tls: LocalTlsFiles | undefined;
  /** Plaintext clients are refused (always so when client certificates are required). */
  readonly requireTls: boolean;
  /** Roles that may connect; undefined means every role. */
  readonly allowRoles: readonly string[] | undefined;
  /** Client address blocks TCP clients must come from; undefined means any address. */
  readonly allowCidr: readonly CidrBlock[] | undefined;
  /** Directory of the unix socket `.s.PGSQL.<port>` and its file mode, when clients may also connect over one. */
  readonly unixSocket: { readonly dir: string; readonly mode: number } | undefined;
  /** Clients are let in without proving who they are even though the listener is not loopback-only. */
  readonly allowUnauthenticated: boolean;
}

/** An invalid access option; carries the flag so the CLI can name it (mapped to ConfigError by the caller). */
export class AccessConfigError extends Error {
  constructor(readonly flag: string, message: string) {
    super(message);
    this.name = 'AccessConfigError';
  }
}

/** The default mode of the unix socket file: the proxy's own user only. */
export const DEFAULT_UNIX_SOCKET_MODE = 0o600;
/** Linux's sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;
const ROLE_NAME = /^[^\s,"]+$/;

/** True for addresses only this host can reach. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Validates the client-side options against the listen address: a listener others can reach (beyond loopback, or a
 * unix socket) must authenticate its clients unless told otherwise. No I/O: the files are read when the proxy starts.
 */
export function resolveAccessConfig(raw: RawAccessOptions, listen: HostPort): AccessConfig {
  const certFile = nonEmpty(raw.tlsCert);
  const keyFile = nonEmpty(raw.tlsKey);
  const clientCaFile = nonEmpty(raw.tlsClientCa);
  if (certFile && !keyFile) throw new AccessConfigError('--tls-key', 'required with --tls-cert: the PEM private key of that certificate');
  if (keyFile && !certFile) throw new AccessConfigError('--tls-cert', 'required with --tls-key: the PEM certificate (chain) clients see');
  if (clientCaFile && !certFile) throw new AccessConfigError('--tls-client-ca', 'needs --tls-cert and --tls-key: client certificates are presented over TLS');
  const requireTls = raw.requireTls ?? false;
  if (requireTls && !certFile) throw new AccessConfigError('--require-tls', 'needs --tls-cert and --tls-key: without them no client can use TLS');

  const authFile = nonEmpty(raw.authFile);
  const unixSocket = raw.unixSocket === undefined ? undefined : unixSocketOf(raw.unixSocket, raw.unixSocketMode, listen.port);
  if (raw.unixSocket === undefined && raw.unixSocketMode !== undefined) {
    throw new AccessConfigError('--unix-socket-mode', 'only means something with --unix-socket DIR');
  }
  const allowUnauthenticated = raw.allowUnauthenticated ?? false;
  const authenticates = authFile !== undefined || clientCaFile !== undefined;
  if (!authenticates && !allowUnauthenticated) {
    const door = !isLoopbackHost(listen.host) ? `--listen ${formatHost(listen)} is reachable beyond this host`
      : unixSocket ? `--unix-socket ${unixSocket.dir} is open to other local users` : undefined;
    if (door) {
      throw new AccessConfigError(!isLoopbackHost(listen.host) ? '--listen' : '--unix-socket',
        `${door}, and anyone who connects would get a DSQL session under this proxy's AWS identity. `
        + 'Make clients authenticate with --auth-file FILE (SCRAM passwords; dsql-proxy passwd ROLE makes the lines) '
        + 'or --tls-client-ca FILE (client certificates, with --tls-cert/--tls-key), or, when only trusted clients can '
        + 'reach it (a container port published on the host\'s loopback), say so with --allow-unauthenticated');
    }
  }

  if (unixSocket && clientCaFile !== undefined && authFile === undefined && !allowUnauthenticated) {
    throw new AccessConfigError('--unix-socket', 'libpq does not use TLS over a unix socket, so its clients cannot present the '
      + 'certificate --tls-client-ca asks for and would connect unauthenticated: add --auth-file (passwords apply to socket clients), '
      + 'or drop --unix-socket');
  }

  return Object.freeze({
    authFile,
    tls: certFile && keyFile ? Object.freeze({ certFile, keyFile, clientCaFile }) : undefined,
    requireTls: requireTls || clientCaFile !== undefined,
    allowRoles: raw.allowRoles === undefined ? undefined : Object.freeze(roleList(raw.allowRoles)),
    allowCidr: raw.allowCidr === undefined ? undefined : Object.freeze(cidrList(raw.allowCidr)),
    unixSocket,
    allowUnauthenticated,
  });
}

function roleList(text: string): string[] {
  const roles = splitList(text);
  if (roles.length === 0) throw new AccessConfigError('--allow-roles', 'give at least one role, e.g. --allow-roles app_reader,app_writer');
  for (const role of roles) {
    if (!ROLE_NAME.test(role)) throw new AccessConfigError('--allow-roles', `"${role}" is not a role name`);
  }
  return roles;
}

function cidrList(text: string): CidrBlock[] {
  const blocks = splitList(text).map(parseCidr);
  if (blocks.length === 0) throw new AccessConfigError('--allow-cidr', 'give at least one block, e.g. --allow-cidr 10.0.0.0/8');
  return blocks;
}

/** Parses `address/prefix` (a bare address means that one host). */
function parseCidr(text: string): CidrBlock {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) throw new AccessConfigError('--allow-cidr', `"${text}" is not a CIDR block (e.g. 10.0.0.0/8 or 2001:db8::/32)`);
  const max = version === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) throw new AccessConfigError('--allow-cidr', `"${text}": the prefix length must be 0 to ${max}`);
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** Where libpq looks for a server on `port` when given `dir` as host. */
export function unixSocketPath(dir: string, port: number): string {
  return join(dir, `.s.PGSQL.${port}`);
}

function unixSocketOf(dirText: string, modeText: string | number | undefined, port: number): { dir: string; mode: number } {
  const given = dirText.trim();
  if (given === '') throw new AccessConfigError('--unix-socket', 'give the directory libpq clients name as host, e.g. /var/run/dsql-proxy');
  // libpq takes a host as a socket directory only when it starts with "/": a relative DIR would be a host name to
  // every client, so the proxy listens (and logs) where clients can name it.
  const dir = resolve(given);
  const path = unixSocketPath(dir, port === 0 ? 65535 : port); // port 0 is picked at listen time: allow for the longest
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new AccessConfigError('--unix-socket', `"${path}" is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a unix socket path may have: use a shorter directory`);
  }
  return { dir, mode: socketMode(modeText) };
}

function socketMode(value: string | number | undefined): number {
  if (value === undefined) return DEFAULT_UNIX_SOCKET_MODE;
  const text = String(value).trim().replace(/^0o/i, '');
  if (!/^[0-7]{3,4}$/.test(text)) throw new AccessConfigError('--unix-socket-mode', `"${String(value)}" is not an octal file mode (e.g. 0600 or 0660)`);
  const mode = parseInt(text, 8);
  if (mode > 0o777) throw new AccessConfigError('--unix-socket-mode', `"${String(value)}": only permission bits (0000-0777) apply to a socket`);
  if ((mode & 0o600) !== 0o600) throw new AccessConfigError('--unix-socket-mode', `"${String(value)}" leaves the proxy's own user unable to use its socket: keep 06 in the owner digit`);
  return mode;
}

function splitList(text: string): string[] {
  return text.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function formatHost({ host, port }: HostPort): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
