import type { SslNegotiation } from '../config.js';

/** Certificate verification failures carry these codes (OpenSSL's X509 errors and Node's name check). */
const CERTIFICATE_ERROR = /CERT|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY_LEAF|SELF_SIGNED|DEPTH_ZERO|ALTNAME/;

/**
 * The hint for a failed TLS handshake: for a certificate failure, what the certificate must be and how to
 * trust it; for a handshake the server cut short under direct TLS, how to fall back to an SSLRequest.
 */
export function tlsFailureHint(certificateName: string | undefined, negotiation: SslNegotiation = 'postgres', error?: NodeJS.ErrnoException): string {
  if (negotiation === 'direct' && error && !CERTIFICATE_ERROR.test(error.code ?? '')) {
    return 'The server ended the TLS handshake. Aurora DSQL accepts direct TLS (ALPN "postgresql"); a server or '
      + 'middlebox that does not may need --ssl-negotiation postgres (SSLRequest first). Also check that --endpoint '
      + 'names the DSQL connection endpoint and port 5432.';
  }
  if (certificateName !== undefined) {
    return `The server certificate must be valid for "${certificateName}" and chain to a trusted CA. `
      + 'Check --cluster-id, --region and --service-identifier (aws dsql get-vpc-endpoint-service-name). '
      + 'Add a private or TLS-inspection CA with --ca-file; --route option verifies the chain without the name.';
  }
  return 'The server certificate must chain to a trusted CA (Amazon Root CA 1 is in Node\'s store). '
    + 'Add a private or TLS-inspection CA with --ca-file or NODE_EXTRA_CA_CERTS.';
}
