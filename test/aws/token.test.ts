import { describe, expect, it } from 'vitest';
import { createTokenProvider } from '../../src/aws/token.js';
import { TEST_CREDENTIALS } from '../support/harness.js';
import { verifyToken } from '../support/sigv4.js';

const hostname = 'abcdefghijklmnopqrstuvwxyz.dsql-test1.us-east-1.on.aws';
const secrets = new Map([[TEST_CREDENTIALS.accessKeyId, TEST_CREDENTIALS.secretAccessKey]]);

describe('token provider', () => {
  it('reuses a role\'s token within the reuse window and signs a fresh one after it', async () => {
    let clock = 1_000_000;
    let signings = 0;
    const tokens = createTokenProvider({
      hostname, region: 'us-east-1', expiresInSeconds: 900, reuseMs: 60_000, now: () => clock,
      credentials: async () => { signings++; return { ...TEST_CREDENTIALS }; },
    });
    const first = await tokens.token('admin');
    expect(await tokens.token('admin')).toBe(first);
    expect(signings).toBe(1);
    const reader = await tokens.token('app_reader');
    expect(verifyToken(reader, { secrets, region: 'us-east-1', hostnames: [hostname], user: 'app_reader', now: Date.now() }).action).toBe('DbConnect');
    clock += 60_000;
    await tokens.token('admin');
    expect(signings).toBe(3);
  });

  it('never reuses a failure: the next connection tries the credentials again', async () => {
    let fail = true;
    const tokens = createTokenProvider({
      hostname, region: 'us-east-1', expiresInSeconds: 900,
      credentials: async () => { if (fail) throw new Error('Could not load credentials from any providers'); return { ...TEST_CREDENTIALS }; },
    });
    await expect(tokens.token('admin')).rejects.toMatchObject({ sqlstate: '28000' });
    fail = false;
    expect(verifyToken(await tokens.token('admin'), { secrets, region: 'us-east-1', hostnames: [hostname], user: 'admin', now: Date.now() }).action).toBe('DbConnectAdmin');
  });

  it('with reuse 0 signs every time', async () => {
    let signings = 0;
    const tokens = createTokenProvider({ hostname, region: 'us-east-1', expiresInSeconds: 900, reuseMs: 0,
      credentials: async () => { signings++; return { ...TEST_CREDENTIALS }; } });
    await tokens.token('admin');
    await tokens.token('admin');
    expect(signings).toBe(2);
  });
});
