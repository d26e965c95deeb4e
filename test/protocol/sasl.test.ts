import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/protocol/errors.js';
import {
  authenticationSasl, authenticationSaslContinue, authenticationSaslFinal, parseSaslInitialResponse, parseSaslResponse,
} from '../../src/protocol/sasl.js';

/** A frame built by hand: type byte, Int32 length (itself included), body. */
function frame(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

const int32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };

describe('SASL authentication messages', () => {
  it('builds AuthenticationSASL with each mechanism NUL-terminated and an empty terminator', () => {
    expect(authenticationSasl(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']))
      .toEqual(frame('R', Buffer.concat([int32(10), Buffer.from('SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0')])));
  });

  it('builds AuthenticationSASLContinue and AuthenticationSASLFinal with the raw data and no terminator', () => {
    expect(authenticationSaslContinue('r=abc,s=c2FsdA==,i=4096')).toEqual(frame('R', Buffer.concat([int32(11), Buffer.from('r=abc,s=c2FsdA==,i=4096')])));
    expect(authenticationSaslFinal('v=c2ln')).toEqual(frame('R', Buffer.concat([int32(12), Buffer.from('v=c2ln')])));
  });

  it('parses SASLInitialResponse: mechanism, data length, data', () => {
    const data = Buffer.from('n,,n=,r=abc');
    expect(parseSaslInitialResponse(frame('p', Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), int32(data.length), data]))))
      .toEqual({ mechanism: 'SCRAM-SHA-256', data });
  });

  it('reads a data length of -1 as no data', () => {
    expect(parseSaslInitialResponse(frame('p', Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), int32(-1)]))))
      .toEqual({ mechanism: 'SCRAM-SHA-256', data: Buffer.alloc(0) });
  });

  it('refuses malformed SASLInitialResponse frames with a ProtocolError', () => {
    const good = Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), int32(3), Buffer.from('abc')]);
    const bad: [string, Buffer, RegExp][] = [
      ['wrong type byte', frame('Q', good), /expected a SASLInitialResponse/],
      ['data length past the frame', frame('p', Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), int32(4), Buffer.from('abc')])), /runs past/],
      ['trailing bytes', frame('p', Buffer.concat([good, Buffer.from('x')])), /after the data/],
      ['length below -1', frame('p', Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), int32(-2)])), /negative/],
      ['no mechanism terminator', frame('p', Buffer.from('SCRAM-SHA-256')), /terminator/],
      ['no data length', frame('p', Buffer.from('SCRAM-SHA-256\0')), /32-bit integer/],
      ['length word not matching the frame', Buffer.concat([frame('p', good), Buffer.from('zz')]), /length does not match/],
      ['truncated header', Buffer.from('p\0\0'), /expected a SASLInitialResponse/],
    ];
    for (const [name, input, message] of bad) {
      expect(() => parseSaslInitialResponse(input), name).toThrow(ProtocolError);
      expect(() => parseSaslInitialResponse(input), name).toThrow(message);
    }
  });

  it('parses SASLResponse as its raw body and refuses other frames', () => {
    expect(parseSaslResponse(frame('p', Buffer.from('c=biws,r=abc,p=xyz')))).toEqual(Buffer.from('c=biws,r=abc,p=xyz'));
    expect(parseSaslResponse(frame('p', Buffer.alloc(0)))).toEqual(Buffer.alloc(0));
    expect(() => parseSaslResponse(frame('X', Buffer.from('c=biws')))).toThrow(ProtocolError);
    expect(() => parseSaslResponse(Buffer.concat([frame('p', Buffer.from('c=biws')), Buffer.from('!')]))).toThrow(/length does not match/);
  });
});
