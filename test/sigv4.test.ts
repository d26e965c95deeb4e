import { DsqlSigner } from '@aws-sdk/dsql-signer';
import { describe, expect, it } from 'vitest';
import { TokenRejected, verifyToken } from './support/sigv4.js';

const credentials = { accessKeyId: 'AKIDVERIFYTEST', secretAccessKey: 'verify/secret+key' };
const hostname = 'abc123.dsql-test.us-east-1.on.aws';
const base = { secrets: new Map([[credentials.accessKeyId, credentials.secretAccessKey]]), region: 'us-east-1', hostnames: [hostname] };

async function sign(user: 'admin' | 'other', overrides: Partial<{ hostname: string; region: string; expiresIn: number; secret: string; sessionToken: string }> = {}): Promise<string> {
  const signer = new DsqlSigner({
    hostname: overrides.hostname ?? hostname,
    region: overrides.region ?? 'us-east-1',
    expiresIn: overrides.expiresIn ?? 900,
    credentials: { ...credentials, secretAccessKey: overrides.secret ?? credentials.secretAccessKey, ...(overrides.sessionToken ? { sessionToken: overrides.sessionToken } : {}) },
  });
  return user === 'admin' ? signer.getDbConnectAdminAuthToken() : signer.getDbConnectAuthToken();
}

describe('the emulator token verifier (independent SigV4 check)', () => {
  it('accepts tokens made by @aws-sdk/dsql-signer, admin and other roles', async () => {
    expect(verifyToken(await sign('admin'), { ...base, user: 'admin', now: Date.now() }).action).toBe('DbConnectAdmin');
    expect(verifyToken(await sign('other'), { ...base, user: 'app_reader', now: Date.now() }).action).toBe('DbConnect');
  });

  it('accepts a token with a session token and checks it', async () => {
    const token = await sign('admin', { sessionToken: 'SESSION/token=' });
    const sessionTokens = new Map([[credentials.accessKeyId, 'SESSION/token=']]);
    expect(verifyToken(token, { ...base, sessionTokens, user: 'admin', now: Date.now() }).hostname).toBe(hostname);
    expect(() => verifyToken(token, { ...base, sessionTokens: new Map([[credentials.accessKeyId, 'other']]), user: 'admin', now: Date.now() }))
      .toThrow(/security token/);
  });

  it.each([
    ['a wrong secret', { secret: 'wrong' }, 'admin', /signature does not match/],
    ['another hostname', { hostname: 'abc123.dsql.us-east-1.on.aws' }, 'admin', /hostname/],
    ['another region', { region: 'eu-west-1' }, 'admin', /region/],
  ] as const)('rejects a token signed with %s', async (_name, overrides, user, reason) => {
    await expect(sign(user, overrides).then((t) => verifyToken(t, { ...base, user, now: Date.now() }))).rejects.toThrow(reason);
  });

  it('rejects an admin token for another role and the reverse (action mapping)', async () => {
    expect(() => verifyToken('x', { ...base, user: 'admin', now: 0 })).toThrow();
    const admin = await sign('admin');
    expect(() => verifyToken(admin, { ...base, user: 'app_reader', now: Date.now() })).toThrow(/Wrong user to action mapping/);
    const other = await sign('other');
    expect(() => verifyToken(other, { ...base, user: 'admin', now: Date.now() })).toThrow(/Wrong user to action mapping/);
  });

  it('rejects an expired token and a tampered one', async () => {
    const token = await sign('admin', { expiresIn: 60 });
    expect(() => verifyToken(token, { ...base, user: 'admin', now: Date.now() + 61_000 })).toThrow(TokenRejected);
    expect(() => verifyToken(token, { ...base, user: 'admin', now: Date.now() + 61_000 })).toThrow(/expired/);
    const tampered = token.replace('X-Amz-Expires=60', 'X-Amz-Expires=600');
    expect(() => verifyToken(tampered, { ...base, user: 'admin', now: Date.now() })).toThrow(/signature does not match/);
  });
});
