import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { constants, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { LocalTlsFiles } from '../access-config.js';
import { ConfigError } from '../config.js';
import { tlsServerEndPoint } from './channel-binding.js';

/** The TLS identity the proxy shows its clients, loaded and checked. */
export interface LocalTls {
  readonly context: SecureContext;
  /** Whether clients must present a certificate chaining to --tls-client-ca. */
  readonly requestClientCert: boolean;
  /** RFC 5929 tls-server-end-point data for SCRAM-SHA-256-PLUS; undefined when the certificate's hash is unknown. */
  readonly channelBinding: Buffer | undefined;
}

/** ALPN protocol PostgreSQL 17 clients offer; a direct TLS connection must carry it (PostgreSQL docs §55.2.11). */
export const POSTGRESQL_ALPN = 'postgresql';

/**
 * TLS 1.2 at least; no renegotiation: PostgreSQL turns it off (SSL_OP_NO_RENEGOTIATION), and a client's TLS 1.2
 * renegotiation only costs the proxy handshakes (Node would allow three per socket every ten minutes).
 */
const SERVER_TLS_SETTINGS = { minVersion: 'TLSv1.2', secureOptions: constants.SSL_OP_NO_RENEGOTIATION } as const;

/** Reads and checks the certificate, key and client CA: a bad file is a usage error before anything listens. */
export function loadLocalTls(files: LocalTlsFiles): LocalTls {
  const cert = readPem(files.certFile, '--tls-cert', 'CERTIFICATE');
  const key = readPem(files.keyFile, '--tls-key', 'PRIVATE KEY');
  const clientCa = files.clientCaFile === undefined ? undefined : readPem(files.clientCaFile, '--tls-client-ca', 'CERTIFICATE');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw new ConfigError('--tls-cert', `cannot read a certificate from "${files.certFile}": ${(error as Error).message}`);
  }
  if (!leaf.checkPrivateKey(privateKeyOf(key, files.keyFile))) {
    throw new ConfigError('--tls-key', `"${files.keyFile}" is not the private key of the certificate in "${files.certFile}"`);
  }
  let context: SecureContext;
  try {
    context = createSecureContext({ cert, key, ...SERVER_TLS_SETTINGS, ...(clientCa ? { ca: clientCa } : {}) });
  } catch (error) {
    throw new ConfigError('--tls-cert', `cannot use "${files.certFile}" with "${files.keyFile}": ${(error as Error).message}`);
  }
  return { context, requestClientCert: clientCa !== undefined, channelBinding: tlsServerEndPoint(leaf.raw) };
}

/**
 * Runs the server side of TLS on an accepted socket whose ClientHello is next (after 'S', or already unshifted for a
 * direct connection); resolves with the TLS socket once the handshake is done. ALPN: a client offering protocols must
 * offer postgresql (else the handshake fails with no_application_protocol, as PostgreSQL 17 does). Client
 * certificates are requested, verified by OpenSSL against the client CA, and judged by the caller
 * (clientCertificateOf), so a refusal reaches the client as a PostgreSQL error rather than a bare TLS alert.
 */
export function startServerTls(socket: Socket, tls: LocalTls): Promise<TLSSocket> {
  const ALPNCallback = ({ protocols }: { protocols: string[] }): string | undefined => (protocols.includes(POSTGRESQL_ALPN) ? POSTGRESQL_ALPN : undefined);
  return new Promise((resolve, reject) => {
    const secure = new TLSSocket(socket, {
      isServer: true, secureContext: tls.context, ALPNCallback, requestCert: tls.requestClientCert, rejectUnauthorized: false,
    });
    const cleanup = (): void => { secure.off('secure', onSecure).off('error', onError).off('close', onClose); };
    const onSecure = (): void => { cleanup(); resolve(secure); };
    const onError = (error: Error): void => { cleanup(); secure.destroy(); reject(error); };
    const onClose = (): void => { cleanup(); reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })); };
    secure.once('secure', onSecure).once('error', onError).once('close', onClose);
  });
}

/** What the client's certificate says, judged against --tls-client-ca. */
export interface ClientCertificate {
  readonly presented: boolean;
  /** Chains to the client CA and is within its validity period. */
  readonly valid: boolean;
  /** OpenSSL's reason when not valid (e.g. CERT_HAS_EXPIRED). */
  readonly problem: string | undefined;
  readonly commonName: string | undefined;
}

/** Reads the peer certificate of a finished server-side handshake and OpenSSL's verdict on it. */
export function clientCertificateOf(socket: TLSSocket): ClientCertificate {
  const peer = socket.getPeerCertificate();
  const presented = peer !== null && typeof peer === 'object' && Object.keys(peer).length > 0;
  const cn = presented ? peer.subject?.CN : undefined;
  const problem = presented ? verificationProblem(socket) : undefined;
  return { presented, valid: presented && problem === undefined, problem, commonName: Array.isArray(cn) ? undefined : cn };
}

type VerifyingHandle = { verifyError?: () => (Error & { code?: string }) | null };

/**
 * OpenSSL's chain verification result for the client's certificate. `authorized` is only filled in by tls.Server's
 * own connection listener, not for a TLSSocket made over an accepted socket (which the opening needs, to answer
 * SSLRequest first); so this asks the handle what that listener asks (Node's onServerSocketSecure). A tls.Server per
 * connection would set it too, but builds a new secure context each time (1.3 ms with RSA-2048, measured). Fails
 * closed: a Node without it verifies no certificate, and the client-certificate tests say so.
 */
function verificationProblem(socket: TLSSocket): string | undefined {
  const handle = (socket as unknown as { _handle?: VerifyingHandle })._handle;
  if (typeof handle?.verifyError !== 'function') return 'this Node.js version does not expose the verification result';
  const error = handle.verifyError();
  return error ? (error.code ?? error.message) : undefined;
}

function readPem(path: string, flag: string, kind: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(flag, `cannot read "${path}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(text)) throw new ConfigError(flag, `"${path}" holds no PEM ${kind.toLowerCase()}`);
  return text;
}

function privateKeyOf(pem: string, path: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (error) {
    throw new ConfigError('--tls-key', `cannot read a private key from "${path}" (encrypted keys are not supported): ${(error as Error).message}`);
  }
}
