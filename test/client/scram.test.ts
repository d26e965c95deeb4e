import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  makeScramVerifier, parseScramVerifier, ScramProtocolError, ScramServerExchange, type ScramServerOptions, type ScramVerifier,
} from '../../src/client/scram.js';
import { directClient } from '../support/harness.js';
import { ScramTestClient, type BindingFlag } from './scram-client.js';

const SECRET = randomBytes(32);
const BINDING = randomBytes(32);

function exchange(verifier: ScramVerifier | undefined, extra: Partial<ScramServerOptions> = {}): ScramServerExchange {
  return new ScramServerExchange({ user: 'alice', verifier, mockSecret: SECRET, channelBinding: undefined, ...extra });
}

const verifierFor = (password: string): ScramVerifier => parseScramVerifier(makeScramVerifier(password, { iterations: 64 }));

/** Runs a whole exchange with the test client; returns the server's outcome and whether the client accepted it. */
function login(server: ScramServerExchange, client: ScramTestClient, mechanism = 'SCRAM-SHA-256'): { ok: boolean; method?: string; verified: boolean } {
  const serverFirst = server.serverFirst(mechanism, client.first());
  const result = server.clientFinal(client.final(serverFirst));
  return result.ok ? { ok: true, method: result.method, verified: client.verifies(result.serverFinal) } : { ok: false, verified: false };
}

function protocolError(run: () => unknown): ScramProtocolError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ScramProtocolError);
    return error as ScramProtocolError;
  }
  throw new Error('expected a ScramProtocolError');
}

describe('SCRAM-SHA-256 verifiers', () => {
  it('reproduces the RFC 7677 §3 exchange byte for byte (user "user", password "pencil")', () => {
    const verifier = parseScramVerifier(makeScramVerifier('pencil', { salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), iterations: 4096 }));
    const server = exchange(verifier, { user: 'user', nonce: () => '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0' });
    const client = new ScramTestClient('pencil', { user: 'user', nonce: 'rOprNGfwEbeRWgbNEkqO' });
    expect(client.first().toString()).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    const serverFirst = server.serverFirst('SCRAM-SHA-256', client.first());
    expect(serverFirst).toBe('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
    const clientFinal = client.final(serverFirst);
    expect(clientFinal.toString()).toBe('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    expect(server.clientFinal(clientFinal)).toEqual({ ok: true, serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=', method: 'scram' });
  });

  it('makes a verifier with 4096 iterations and a fresh 16-byte salt by default', () => {
    const one = parseScramVerifier(makeScramVerifier('secret'));
    const two = parseScramVerifier(makeScramVerifier('secret'));
    expect(one.iterations).toBe(4096);
    expect(one.salt).toHaveLength(16);
    expect(one.salt.equals(two.salt)).toBe(false);
    expect(login(exchange(one), new ScramTestClient('secret'))).toEqual({ ok: true, method: 'scram', verified: true });
  });

  it('refuses malformed verifiers with messages that never quote the verifier', () => {
    const good = makeScramVerifier('pw', { iterations: 10 });
    const [, salt, stored, server] = /^SCRAM-SHA-256\$10:([^$]+)\$([^:]+):(.+)$/.exec(good)! as unknown as [string, string, string, string];
    const keys = `${stored}:${server}`;
    const cases: [string, RegExp][] = [
      ['md5d8578edf8458ce06fbc5bb76a58c5ca4', /not a SCRAM-SHA-256 verifier/],
      ['hunter2', /not a SCRAM-SHA-256 verifier/],
      [`SCRAM-SHA-256$${salt}$${keys}`, /not of the form/],
      [`SCRAM-SHA-256$0:${salt}$${keys}`, /iteration count is not a positive integer/],
      [`SCRAM-SHA-256$-5:${salt}$${keys}`, /iteration count is not a positive integer/],
      [`SCRAM-SHA-256$99999999999:${salt}$${keys}`, /iteration count is not a positive integer/],
      [`SCRAM-SHA-256$10:not*base64$${keys}`, /salt is not base64/],
      [`SCRAM-SHA-256$10:${salt}$${stored.slice(4)}:${server}`, /StoredKey is not 32 bytes of base64/],
      [`SCRAM-SHA-256$10:${salt}$${stored}:${server}AAAA`, /ServerKey is not 32 bytes of base64/],
    ];
    for (const [text, message] of cases) {
      expect(() => parseScramVerifier(text), text).toThrow(message);
      try { parseScramVerifier(text); } catch (error) {
        for (const part of [text, salt, stored, server, 'hunter2', 'md5d8578']) expect((error as Error).message).not.toContain(part);
      }
    }
    expect(parseScramVerifier(good)).toMatchObject({ iterations: 10 });
  });

  it('refuses iteration counts PostgreSQL could not store', () => {
    expect(() => makeScramVerifier('pw', { iterations: 0 })).toThrow(RangeError);
    expect(() => makeScramVerifier('pw', { iterations: 2 ** 31 })).toThrow(RangeError);
  });
});

describe('the SCRAM server exchange', () => {
  it('accepts the right password and proves itself to the client', () => {
    expect(login(exchange(verifierFor('correct horse')), new ScramTestClient('correct horse'))).toEqual({ ok: true, method: 'scram', verified: true });
  });

  it('answers ok:false to a wrong password', () => {
    expect(login(exchange(verifierFor('correct horse')), new ScramTestClient('battery staple'))).toEqual({ ok: false, verified: false });
  });

  it('ignores the n= name and uses 18 random bytes of nonce', () => {
    const server = exchange(verifierFor('pw'));
    const client = new ScramTestClient('pw', { user: 'mallory', nonce: 'abc' });
    const serverFirst = server.serverFirst('SCRAM-SHA-256', client.first());
    expect(serverFirst).toMatch(/^r=abc[A-Za-z0-9+/]{24},s=/);
    expect(server.clientFinal(client.final(serverFirst)).ok).toBe(true);
  });

  it('runs a mock exchange for an unknown role that looks like a real one and fails at the proof', () => {
    const first = (user: string, verifier?: ScramVerifier): string => exchange(verifier, { user }).serverFirst('SCRAM-SHA-256', new ScramTestClient('x', { nonce: 'n' }).first());
    const salt = (serverFirst: string): string => /,s=([^,]+),/.exec(serverFirst)![1]!;
    expect(first('ghost')).toMatch(/^r=n[A-Za-z0-9+/]{24},s=[A-Za-z0-9+/]{22}==,i=4096$/);
    expect(first('real', verifierFor('pw')).replace(/,i=\d+$/, '')).toMatch(/^r=n[A-Za-z0-9+/]{24},s=[A-Za-z0-9+/]{22}==$/);
    expect(salt(first('ghost'))).toBe(salt(first('ghost')));
    expect(salt(first('ghost'))).not.toBe(salt(first('phantom')));
    const other = new ScramServerExchange({ user: 'ghost', verifier: undefined, mockSecret: randomBytes(32), channelBinding: undefined });
    expect(salt(other.serverFirst('SCRAM-SHA-256', Buffer.from('n,,n=,r=n')))).not.toBe(salt(first('ghost')));
    for (const password of ['', 'x', 'anything']) {
      expect(login(exchange(undefined, { user: 'ghost' }), new ScramTestClient(password))).toEqual({ ok: false, verified: false });
    }
  });

  it('refuses to be used out of order', () => {
    const server = exchange(verifierFor('pw'));
    expect(() => server.clientFinal(Buffer.from('c=biws'))).toThrow(/out of order/);
    server.serverFirst('SCRAM-SHA-256', Buffer.from('n,,n=,r=abc'));
    expect(() => server.serverFirst('SCRAM-SHA-256', Buffer.from('n,,n=,r=abc'))).toThrow(/out of order/);
  });
});

describe('SCRAM-SHA-256-PLUS (tls-server-end-point)', () => {
  const plusClient = (flag: BindingFlag, channelBinding = BINDING, password = 'pw'): ScramTestClient =>
    new ScramTestClient(password, { flag, channelBinding });

  it('offers SCRAM-SHA-256-PLUS first only when channel binding data is known', () => {
    expect(exchange(undefined).mechanisms()).toEqual(['SCRAM-SHA-256']);
    expect(exchange(undefined, { channelBinding: BINDING }).mechanisms()).toEqual(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']);
  });

  it('authenticates with the right binding data and reports scram-plus', () => {
    expect(login(exchange(verifierFor('pw'), { channelBinding: BINDING }), plusClient('p'), 'SCRAM-SHA-256-PLUS'))
      .toEqual({ ok: true, method: 'scram-plus', verified: true });
  });

  it('fails the binding check (28000) when the client saw another certificate', () => {
    const server = exchange(verifierFor('pw'), { channelBinding: BINDING });
    const client = plusClient('p', randomBytes(32));
    const final = client.final(server.serverFirst('SCRAM-SHA-256-PLUS', client.first()));
    expect(protocolError(() => server.clientFinal(final))).toMatchObject({ message: 'SCRAM channel binding check failed', sqlstate: '28000' });
  });

  it('still lets a client without channel binding use SCRAM-SHA-256 over TLS', () => {
    expect(login(exchange(verifierFor('pw'), { channelBinding: BINDING }), plusClient('n'))).toEqual({ ok: true, method: 'scram', verified: true });
  });

  it('refuses the "y" flag when PLUS was offered: a downgrade (RFC 5802 §6)', () => {
    const error = protocolError(() => exchange(verifierFor('pw'), { channelBinding: BINDING }).serverFirst('SCRAM-SHA-256', plusClient('y').first()));
    expect(error).toMatchObject({ sqlstate: '28000', message: expect.stringContaining('channel binding negotiation error') });
    expect(login(exchange(verifierFor('pw')), plusClient('y'))).toEqual({ ok: true, method: 'scram', verified: true });
  });

  it('refuses mismatched mechanism and flag, other binding types and unoffered mechanisms', () => {
    const offered = (): ScramServerExchange => exchange(verifierFor('pw'), { channelBinding: BINDING });
    expect(protocolError(() => offered().serverFirst('SCRAM-SHA-256', plusClient('p').first())).message).toMatch(/includes channel binding data/);
    expect(protocolError(() => offered().serverFirst('SCRAM-SHA-256-PLUS', plusClient('n').first())).message).toMatch(/does not include channel binding data/);
    const tlsUnique = new ScramTestClient('pw', { flag: 'p', bindingType: 'tls-unique' });
    expect(protocolError(() => offered().serverFirst('SCRAM-SHA-256-PLUS', tlsUnique.first())).message).toMatch(/unsupported SCRAM channel-binding type/);
    expect(protocolError(() => exchange(verifierFor('pw')).serverFirst('SCRAM-SHA-256-PLUS', plusClient('p').first())).message)
      .toBe('client selected an invalid SASL authentication mechanism');
    expect(protocolError(() => offered().serverFirst('SCRAM-SHA-1', plusClient('n').first())).message).toBe('client selected an invalid SASL authentication mechanism');
  });
});

describe('malformed SCRAM messages', () => {
  const first = (text: string | Buffer): ScramProtocolError =>
    protocolError(() => exchange(verifierFor('pw')).serverFirst('SCRAM-SHA-256', Buffer.isBuffer(text) ? text : Buffer.from(text)));

  it('refuses bad client-first messages', () => {
    expect(first('n,a=admin,n=,r=abc')).toMatchObject({ sqlstate: '0A000', message: expect.stringContaining('authorization identity') });
    expect(first('n,,m=ext,n=,r=abc')).toMatchObject({ sqlstate: '0A000', message: expect.stringContaining('extension') });
    expect(first('n,,n=,r=a b').message).toBe('non-printable characters in SCRAM nonce');
    expect(first('n,,n=,r=').message).toBe('non-printable characters in SCRAM nonce');
    expect(first('n,,n=,r=\x7f').message).toBe('non-printable characters in SCRAM nonce');
    expect(first('').message).toMatch(/empty message/);
    expect(first(Buffer.from('n,,n=,r=abc\0')).message).toMatch(/zero byte/);
    expect(first('x,,n=,r=abc').message).toMatch(/unexpected channel-binding flag/);
    expect(first('n,,r=abc').message).toMatch(/"n"/);
    expect(first('n,,n=').message).toMatch(/"r"/);
    expect(first('n,,n=,r=abc,1bad').message).toMatch(/invalid attribute/);
    expect(first('nn,n=,r=abc').sqlstate).toBe('08P01');
  });

  it('accepts optional extensions after the nonce, as PostgreSQL does', () => {
    expect(exchange(verifierFor('pw')).serverFirst('SCRAM-SHA-256', Buffer.from('n,,n=,r=abc,x=ext'))).toMatch(/^r=abc/);
  });

  it('refuses bad client-final messages: nonce, binding attribute, proof, trailing data', () => {
    const finalWith = (edit: (final: string) => string): ScramProtocolError => {
      const server = exchange(verifierFor('pw'));
      const client = new ScramTestClient('pw');
      const final = client.final(server.serverFirst('SCRAM-SHA-256', client.first())).toString();
      return protocolError(() => server.clientFinal(Buffer.from(edit(final))));
    };
    expect(finalWith((f) => f.replace(/,r=([^,]+)/, ',r=$1x')).message).toMatch(/nonce does not match/);
    expect(finalWith((f) => f.replace('c=biws', 'c=eSws')).message).toBe('unexpected SCRAM channel-binding attribute in client-final-message');
    expect(finalWith((f) => f.replace('c=biws,', '')).message).toMatch(/"c"/);
    expect(finalWith((f) => f.replace(/,p=.*/, '')).message).toMatch(/proof attribute "p" is missing/);
    expect(finalWith((f) => `${f},x=1`).message).toMatch(/garbage/);
    expect(finalWith((f) => f.replace(/,p=.*/, ',p=AAAA')).message).toMatch(/malformed proof/);
    expect(finalWith((f) => f.replace(/,p=/, ',p=*')).message).toMatch(/malformed proof/);
  });

  it('accepts extensions before the proof and still checks the proof over them', () => {
    const server = exchange(verifierFor('pw'));
    const client = new ScramTestClient('pw');
    const final = client.final(server.serverFirst('SCRAM-SHA-256', client.first())).toString();
    expect(server.clientFinal(Buffer.from(final.replace(',p=', ',x=1,p=')))).toEqual({ ok: false });
  });
});

describe('interoperability with PostgreSQL verifiers', () => {
  // Each password exercises one SASLprep rule; PostgreSQL prepares it on ALTER ROLE … PASSWORD.
  const passwords: [string, string][] = [
    ['ascii', 'pencil'],
    ['ascii with controls, used as it is', 'a\tb\x07'],
    ['mapped to nothing (soft hyphen)', 'I\u00adX'],
    ['non-ASCII space', 'a\u00a0b\u3000c'],
    ['NFKC (roman numeral, ligature)', '\u2168\ufb01'],
    ['prohibited character: raw bytes', '\u00e9\u0007\u00ad'],
    ['right-to-left with a soft hyphen', '\u05d0\u00ad\u05d1'],
    ['right-to-left mixed with left-to-right: raw bytes', '\u05d0\u00ada\u05d1'],
    ['right-to-left not ending right-to-left: raw bytes', '\u05d0\u00ad1'],
    ['only mapped-to-nothing characters: raw bytes', '\u00ad\u200d'],
    ['non-BMP', '\u{1d400}\u00a0x'],
  ];

  it('makes the verifier PostgreSQL makes for the same password and salt, and accepts PostgreSQL\'s verifiers', async () => {
    const db = await directClient();
    const role = `scram_test_${randomBytes(4).toString('hex')}`;
    try {
      await db.query('set password_encryption = \'scram-sha-256\'');
      await db.query(`create role ${role} login`);
      for (const [name, password] of passwords) {
        await db.query(`alter role ${role} password ${db.escapeLiteral(password)}`);
        const { rows } = await db.query<{ rolpassword: string }>('select rolpassword from pg_authid where rolname = $1', [role]);
        const stored = rows[0]!.rolpassword;
        const verifier = parseScramVerifier(stored);
        expect(makeScramVerifier(password, { salt: verifier.salt, iterations: verifier.iterations }), name).toBe(stored);
        expect(login(exchange(verifier), new ScramTestClient(password)), name).toEqual({ ok: true, method: 'scram', verified: true });
        expect(login(exchange(verifier), new ScramTestClient(`${password}!`)).ok, name).toBe(false);
      }
    } finally {
      await db.query(`drop role if exists ${role}`);
      await db.end();
    }
  });
});
