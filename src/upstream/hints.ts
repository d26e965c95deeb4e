import type { SslNegotiation } from '../config.js';

/** Certificate verification failures carry these codes (OpenSSL's X509 errors and Node's name check). */
const CERTIFICATE_ERROR = /CERT|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY_LEAF|SELF_SIGNED|DEPTH_ZERO|ALTNAME/;

/** Added to the hints of handshakes that fail under direct TLS. */
const DIRECT_TLS_FALLBACK = ' If the server does not accept direct TLS, use --ssl-negotiation postgres.';

/** A TLS error as users should read it: an OpenSSL error's message carries its error-queue dump and source paths, its reason is the readable part. */
export function tlsErrorText(error: NodeJS.ErrnoException & { library?: string; reason?: string }): string {
  return `${(error.library && error.reason) || error.message}${error.code ? ` (${error.code})` : ''}`;
}

/**
 * The hint for a failed TLS handshake: for a certificate valid for other names, that the token was kept back and
 * how to see and set the expected name; for another certificate failure, how to trust it; for a handshake the
 * server cut short under direct TLS, how to fall back to an SSLRequest.
 */
export function tlsFailureHint(certificateNames: readonly string[], negotiation: SslNegotiation, error: NodeJS.ErrnoException): string {
  const code = error.code ?? '';
  if (negotiation === 'direct' && !CERTIFICATE_ERROR.test(code)) {
    return 'The server ended the TLS handshake. Aurora DSQL accepts direct TLS (ALPN "postgresql"); a server or '
      + 'middlebox that does not may need --ssl-negotiation postgres (SSLRequest first). Also check that --endpoint '
      + 'names the DSQL connection endpoint and port 5432.';
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `No token was sent: the server is not proven to be this cluster's endpoint. Check that --endpoint names the DSQL `
      + 'connection endpoint, and --cluster-id, --region and --service-identifier (aws dsql get-vpc-endpoint-service-name). '
      + '"dsql-proxy doctor" prints the names the certificate carries; if the real endpoint\'s certificate carries another '
      + 'name of this cluster, set it with --certificate-name.';
  }
  const expected = certificateNames.map((n) => `"${n}"`).join(' or ');
  return `The server certificate must chain to a trusted CA and be valid for ${expected}. `
    + 'Add a private or TLS-inspection CA with --ca-file or NODE_EXTRA_CA_CERTS; '
    + '"dsql-proxy doctor" prints the certificate the endpoint presents, and --certificate-name sets the name to expect.';
}

/** The hint for a direct TLS handshake that completed without ALPN "postgresql". */
export function missingAlpnHint(): string {
  return 'PostgreSQL 17 and Aurora DSQL select ALPN "postgresql" on direct TLS; this server did not, so it may be an older '
    + 'server or a TLS-terminating middlebox. Use --ssl-negotiation postgres (SSLRequest first), and check that --endpoint '
    + 'names the DSQL connection endpoint.';
}

/** The hint for an endpoint that accepted TCP and then said nothing (to the SSLRequest, or to the ClientHello in the doctor). */
export function silentEndpointHint(target: string, negotiation: SslNegotiation): string {
  return `Something accepted TCP on ${target} but is not answering like DSQL: check that --endpoint names the DSQL connection `
    + 'endpoint and port 5432, and that no firewall or proxy in between holds the connection.'
    + (negotiation === 'direct' ? DIRECT_TLS_FALLBACK : '');
}

/** The hint for a TLS handshake that started but did not finish in time. */
export function stalledHandshakeHint(negotiation: SslNegotiation): string {
  return `The endpoint accepted TCP${negotiation === 'postgres' ? ' and the SSL request' : ''} but stalled in the TLS handshake: `
    + 'check network MTU and any TLS-inspecting middlebox.' + (negotiation === 'direct' ? DIRECT_TLS_FALLBACK : '');
}
