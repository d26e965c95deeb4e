import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Independent check of a DSQL IAM token (a SigV4 presigned GET URL without its scheme), written from
 * the SigV4 specification rather than with the SDK that produced the token, so a misuse of the signer
 * cannot verify itself.
 */

/** What a verified token says. */
export interface VerifiedToken {
  readonly hostname: string;
  readonly action: string;
  readonly accessKeyId: string;
  readonly region: string;
  readonly signedAt: Date;
  readonly expiresInSeconds: number;
}

/** What the verifier checks a token against. */
export interface TokenExpectations {
  /** Secret keys by access key id. */
  readonly secrets: ReadonlyMap<string, string>;
  /** Session token required for an access key id (temporary credentials). */
  readonly sessionTokens?: ReadonlyMap<string, string>;
  readonly region: string;
  /** Hostnames a token may be signed for. */
  readonly hostnames: readonly string[];
  /** The role connecting; `admin` requires DbConnectAdmin, others DbConnect. */
  readonly user: string;
  /** Current time in ms. */
  readonly now: number;
}

/** Why a token was refused. */
export class TokenRejected extends Error {}

const SERVICE = 'dsql';
const ALGORITHM = 'AWS4-HMAC-SHA256';
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/** RFC 3986 encoding as SigV4 requires. */
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** Verifies `token` or throws TokenRejected naming the first check that failed. */
export function verifyToken(token: string, expect: TokenExpectations): VerifiedToken {
  const url = new URL(`https://${token}`);
  if (url.pathname !== '/') throw new TokenRejected(`unexpected path ${url.pathname}`);
  const hostname = url.host;
  if (!expect.hostnames.includes(hostname)) {
    throw new TokenRejected(`token hostname ${hostname} is not one of ${expect.hostnames.join(', ')}`);
  }
  const q = url.searchParams;
  const get = (name: string): string => {
    const value = q.get(name);
    if (value === null) throw new TokenRejected(`missing ${name}`);
    return value;
  };
  const action = get('Action');
  const expectedAction = expect.user === 'admin' ? 'DbConnectAdmin' : 'DbConnect';
  if (action !== expectedAction) throw new TokenRejected(`Wrong user to action mapping: ${expect.user} with ${action}`);
  if (get('X-Amz-Algorithm') !== ALGORITHM) throw new TokenRejected('unsupported algorithm');
  if (get('X-Amz-SignedHeaders') !== 'host') throw new TokenRejected('signed headers must be exactly host');

  const [accessKeyId, date, region, service, terminator, ...rest] = get('X-Amz-Credential').split('/');
  if (rest.length > 0 || terminator !== 'aws4_request') throw new TokenRejected('malformed credential scope');
  if (service !== SERVICE) throw new TokenRejected(`credential scope service ${service} is not ${SERVICE}`);
  if (region !== expect.region) throw new TokenRejected(`credential scope region ${region} is not ${expect.region}`);
  const secret = expect.secrets.get(accessKeyId!);
  if (secret === undefined) throw new TokenRejected('unknown access key id');
  const requiredSession = expect.sessionTokens?.get(accessKeyId!);
  if (requiredSession !== undefined && q.get('X-Amz-Security-Token') !== requiredSession) {
    throw new TokenRejected('security token missing or wrong');
  }

  const amzDate = get('X-Amz-Date');
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!m || amzDate.slice(0, 8) !== date) throw new TokenRejected('X-Amz-Date does not match the credential scope');
  const signedAt = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  const expiresInSeconds = Number(get('X-Amz-Expires'));
  if (!Number.isInteger(expiresInSeconds) || expiresInSeconds < 1 || expiresInSeconds > 604_800) {
    throw new TokenRejected('X-Amz-Expires out of range');
  }
  if (signedAt.getTime() - MAX_CLOCK_SKEW_MS > expect.now) throw new TokenRejected('token signed in the future');
  if (signedAt.getTime() + expiresInSeconds * 1000 < expect.now) throw new TokenRejected('token expired');

  const canonicalQuery = [...q.entries()]
    .filter(([name]) => name !== 'X-Amz-Signature')
    .map(([name, value]) => [uriEncode(name), uriEncode(value)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const canonicalRequest = ['GET', '/', canonicalQuery, `host:${hostname}`, '', 'host', EMPTY_SHA256].join('\n');
  const scope = `${date}/${region}/${SERVICE}/aws4_request`;
  const stringToSign = [ALGORITHM, amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secret}`, date!), region!), SERVICE), 'aws4_request');
  const expected = hmac(signingKey, stringToSign);
  const given = Buffer.from(get('X-Amz-Signature'), 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new TokenRejected('signature does not match');

  return { hostname, action, accessKeyId: accessKeyId!, region: region!, signedAt, expiresInSeconds };
}
