/**
 * The fix for a management API call AWS refused, read from the service's own error type and message: a single
 * "credentials were refused" would send someone with a wrong region or a missing permission after their keys.
 * Undefined when the error says nothing more specific.
 */
export function rejectionHint(type: string, message: string, region: string): string | undefined {
  if (/scoped to a valid region/i.test(message)) {
    const scoped = /not '([^']*)'/.exec(message)?.[1] || region;
    return `Wrong region, not refused credentials: the request was signed for ${scoped} and the management endpoint serves another region. `
      + `Check --region, and give --endpoint-url the management endpoint of ${region} (https://vpce-….dsql.${region}.vpce.amazonaws.com), or drop it to use the regional endpoint.`;
  }
  if (/signature expired|signature not yet current/i.test(message)) {
    return 'This host\'s clock is off (a signature is valid for 5 minutes): synchronise it (NTP, chrony) and retry.';
  }
  if (type === 'SignatureDoesNotMatch' || /signature we calculated does not match/i.test(message)) {
    return 'The secret access key does not belong to the access key id: check the credentials (AWS_SECRET_ACCESS_KEY, the profile\'s keys).';
  }
  if (type === 'AccessDeniedException') {
    const action = /not authorized to perform:?\s*([A-Za-z0-9-]+:[A-Za-z0-9*]+)/.exec(message)?.[1];
    const blocked = /explicit deny/i.test(message) ? 'an explicit deny (an IAM policy, permissions boundary or SCP) blocks' : 'the IAM policy does not allow';
    return action
      ? `The credentials are valid, but ${blocked} ${action}: allow it on this cluster (serving itself needs only dsql:DbConnect or dsql:DbConnectAdmin).`
      : 'The credentials are valid, but the IAM policy does not allow this call: allow dsql:GetVpcEndpointServiceName, dsql:GetCluster and dsql:ListClusters.';
  }
  if (type === 'UnrecognizedClientException' || type === 'InvalidClientTokenId') {
    return 'AWS does not recognise these credentials (the access key id is unknown or deleted, or a session token is missing or belongs to other keys): '
      + 'check AWS_ACCESS_KEY_ID and the profile, or run "aws sso login".';
  }
  if (type === 'ExpiredTokenException') return 'The session credentials expired: refresh them ("aws sso login", or assume the role again).';
  return undefined;
}
