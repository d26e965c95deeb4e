/** The hint for a failed TLS handshake or certificate check, naming what was expected and how to fix it. */
export function tlsFailureHint(certificateName: string | undefined): string {
  if (certificateName !== undefined) {
    return `The server certificate must be valid for "${certificateName}" and chain to a trusted CA. `
      + 'Check --cluster-id, --region and --service-identifier (aws dsql get-vpc-endpoint-service-name). '
      + 'Add a private or TLS-inspection CA with --ca-file; --route option verifies the chain without the name.';
  }
  return 'The server certificate must chain to a trusted CA (Amazon Root CA 1 is in Node\'s store). '
    + 'Add a private or TLS-inspection CA with --ca-file or NODE_EXTRA_CA_CERTS.';
}
