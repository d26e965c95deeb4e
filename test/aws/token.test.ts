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

  it('never reuses a token past the expiration of the credentials that signed it', async () => {
    let clock = Date.parse('2026-12-03T10:00:00Z');
    let signings = 0;
    const tokens = createTokenProvider({
      hostname, region: 'us-east-1', expiresInSeconds: 900, reuseMs: 60_000, now: () => clock,
      // Temporary credentials with 40 s left: a token they sign is worthless after that.
      credentials: async () => { signings++; return { ...TEST_CREDENTIALS, sessionToken: 'session', expiration: new Date(clock + 40_000) }; },
    });
    await tokens.token('admin');
    clock += 5_000;
    await tokens.token('admin');
    expect(signings).toBe(1);
    clock += 6_000; // 11 s after signing: within the minute of reuse, but within 30 s of the credentials' expiration
    await tokens.token('admin');
    expect(signings).toBe(2);
  });

  it('gives up on a credential source that hangs when the signal aborts, and does not share the pending signature past its time', async () => {
    let clock = 0;
    let calls = 0;
    let answer: ((c: typeof TEST_CREDENTIALS) => void) | undefined;
    const tokens = createTokenProvider({
      hostname, region: 'us-east-1', expiresInSeconds: 900, shareMs: 1_000, now: () => clock,
      credentials: () => { calls++; return calls === 1 ? new Promise((resolve) => { answer = resolve; }) : Promise.resolve({ ...TEST_CREDENTIALS }); },
    });
    const first = new AbortController();
    const pending = tokens.token('admin', first.signal);
    // Within the share window a second connection waits for the same signature...
    const second = new AbortController();
    const shared = tokens.token('admin', second.signal);
    expect(calls).toBe(1);
    first.abort(new Error('deadline'));
    await expect(pending).rejects.toThrow('deadline');
    second.abort(new Error('deadline 2'));
    await expect(shared).rejects.toThrow('deadline 2');
    // ...past it, a new connection asks the credential source again instead of waiting on the hung call.
    clock += 1_000;
    const fresh = await tokens.token('admin');
    expect(calls).toBe(2);
    expect(verifyToken(fresh, { secrets, region: 'us-east-1', hostnames: [hostname], user: 'admin', now: Date.now() }).action).toBe('DbConnectAdmin');
    answer?.({ ...TEST_CREDENTIALS }); // the hung call settling late harms nothing
  });
});
