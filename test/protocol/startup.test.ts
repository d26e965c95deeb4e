import { describe, expect, it } from 'vitest';
import { CANCEL_REQUEST_CODE, PROTOCOL_3_0 } from '../../src/protocol/codes.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import {
  negotiateVersion, parseStartupPacket, serializeStartupMessage, splitOptions, startupParameter, withClusterOption, type StartupMessage,
} from '../../src/protocol/startup.js';

/** Builds a startup packet by hand, independent of the serializer under test. */
function handMade(version: number, pairs: [string, string][]): Buffer {
  const body = Buffer.concat([
    ...pairs.flatMap(([k, v]) => [Buffer.from(k), Buffer.from([0]), Buffer.from(v), Buffer.from([0])]),
    Buffer.from([0]),
  ]);
  const out = Buffer.alloc(8 + body.length);
  out.writeInt32BE(out.length, 0);
  out.writeInt32BE(version, 4);
  body.copy(out, 8);
  return out;
}

describe('StartupMessage', () => {
  const pairs: [string, string][] = [['user', 'app_reader'], ['database', 'db'], ['application_name', 'psql'], ['client_encoding', 'UTF8']];

  it('serializes to the exact bytes of the protocol layout, keeping parameter order', () => {
    expect(serializeStartupMessage(PROTOCOL_3_0, pairs)).toEqual(handMade(PROTOCOL_3_0, pairs));
  });

  it('parses what it serializes, and keeps UTF-8 values', () => {
    const withUtf8: [string, string][] = [...pairs, ['options', '-c search_path=schéma']];
    expect(parseStartupPacket(handMade(PROTOCOL_3_0, withUtf8))).toEqual({ kind: 'startup', version: PROTOCOL_3_0, parameters: withUtf8 });
  });

  it('recognises SSLRequest, GSSENCRequest and CancelRequest', () => {
    const ssl = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
    const gss = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]);
    expect(parseStartupPacket(ssl)).toEqual({ kind: 'ssl' });
    expect(parseStartupPacket(gss)).toEqual({ kind: 'gssenc' });
    const cancel = Buffer.alloc(16);
    cancel.writeInt32BE(16, 0); cancel.writeInt32BE(CANCEL_REQUEST_CODE, 4); cancel.writeInt32BE(4242, 8); cancel.writeInt32BE(99, 12);
    expect(parseStartupPacket(cancel)).toEqual({ kind: 'cancel', processId: 4242, raw: cancel });
  });

  it.each([
    ['an unknown protocol major version', handMade(2 << 16, [])],
    ['a missing final terminator', handMade(PROTOCOL_3_0, pairs).subarray(0, -1)],
    ['a name without value', Buffer.concat([handMade(PROTOCOL_3_0, []).subarray(0, 8), Buffer.from('user\0')])],
    ['bytes after the terminator', Buffer.concat([handMade(PROTOCOL_3_0, pairs), Buffer.from('x')])],
    ['an SSLRequest with extra bytes', Buffer.from([0, 0, 0, 9, 0x04, 0xd2, 0x16, 0x2f, 0])],
  ])('rejects %s with a ProtocolError (08P01)', (_name, packet) => {
    expect(() => parseStartupPacket(packet)).toThrow(ProtocolError);
    try { parseStartupPacket(packet); } catch (e) { expect((e as ProtocolError).sqlstate).toBe('08P01'); }
  });
});

describe('withClusterOption', () => {
  const id = 'abcdefghijklmnopqrstuvwxyz';
  it('adds options at the end when the client sent none', () => {
    expect(withClusterOption([['user', 'admin']], id)).toEqual([['user', 'admin'], ['options', `-c amzn-cluster-id=${id}`]]);
  });

  it('appends to the client options in place, keeping the order of every parameter', () => {
    const out = withClusterOption([['user', 'admin'], ['options', '-c search_path=app'], ['database', 'postgres']], id);
    expect(out).toEqual([['user', 'admin'], ['options', `-c search_path=app -c amzn-cluster-id=${id}`], ['database', 'postgres']]);
    expect(splitOptions(out[1]![1])).toEqual(['-c', 'search_path=app', '-c', `amzn-cluster-id=${id}`]);
  });

  it('keeps escaped spaces in client options and does not let a dangling backslash swallow the separator', () => {
    const escaped = withClusterOption([['options', '-c application_name=my\\ app']], id);
    expect(splitOptions(escaped[0]![1])).toEqual(['-c', 'application_name=my app', '-c', `amzn-cluster-id=${id}`]);
    const dangling = withClusterOption([['options', '-c x=y\\']], id);
    expect(splitOptions(dangling[0]![1])).toEqual(['-c', 'x=y', '-c', `amzn-cluster-id=${id}`]);
    const pairOfBackslashes = withClusterOption([['options', '-c x=y\\\\']], id);
    expect(splitOptions(pairOfBackslashes[0]![1])).toEqual(['-c', 'x=y\\', '-c', `amzn-cluster-id=${id}`]);
  });

  it('replaces blank client options', () => {
    expect(withClusterOption([['options', '   ']], id)).toEqual([['options', `-c amzn-cluster-id=${id}`]]);
  });
});

describe('negotiateVersion', () => {
  const message = (version: number, parameters: [string, string][]): StartupMessage => ({ kind: 'startup', version, parameters });
  it('needs nothing for plain 3.0', () => {
    expect(negotiateVersion(message(PROTOCOL_3_0, [['user', 'u']]))).toEqual({ parameters: [['user', 'u']], unsupportedOptions: [], mustNegotiate: false });
  });
  it('negotiates 3.2 down to 3.0 and strips _pq_ options', () => {
    const out = negotiateVersion(message((3 << 16) | 2, [['user', 'u'], ['_pq_.compression', 'on']]));
    expect(out).toEqual({ parameters: [['user', 'u']], unsupportedOptions: ['_pq_.compression'], mustNegotiate: true });
  });
  it('negotiates when only _pq_ options are present', () => {
    expect(negotiateVersion(message(PROTOCOL_3_0, [['_pq_.x', '1']])).mustNegotiate).toBe(true);
  });
});

describe('startupParameter', () => {
  it('takes the last of a parameter given twice, as PostgreSQL does (the token is signed for the role the server will use)', () => {
    const message: StartupMessage = { kind: 'startup', version: PROTOCOL_3_0, parameters: [['user', 'app_reader'], ['user', 'admin']] };
    expect(startupParameter(message, 'user')).toBe('admin');
    expect(startupParameter(message, 'database')).toBeUndefined();
  });
});
