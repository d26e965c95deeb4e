import { describe, expect, it } from 'vitest';
import {
  authenticationCode, errorResponse, negotiateProtocolVersion, parseErrorResponse, parseNegotiateProtocolVersion,
  parsePasswordMessage, passwordMessage, sslRequest,
} from '../../src/protocol/messages.js';

describe('message builders', () => {
  it('builds an ErrorResponse with S, V, C, M, H fields and a terminator', () => {
    const bytes = errorResponse({ severity: 'FATAL', code: '08001', message: 'm', hint: 'h' });
    const body = 'SFATAL\0VFATAL\0C08001\0Mm\0Hh\0\0';
    expect(bytes).toEqual(Buffer.concat([Buffer.from('E'), Buffer.from([0, 0, 0, body.length + 4]), Buffer.from(body)]));
    expect(parseErrorResponse(bytes)).toEqual({ severity: 'FATAL', code: '08001', message: 'm', detail: undefined, hint: 'h' });
  });

  it('builds a PasswordMessage', () => {
    expect(passwordMessage('tok')).toEqual(Buffer.from([0x70, 0, 0, 0, 8, 0x74, 0x6f, 0x6b, 0]));
    expect(parsePasswordMessage(passwordMessage('tok'))).toBe('tok');
  });

  it('builds NegotiateProtocolVersion with the full version number and the option names', () => {
    const bytes = negotiateProtocolVersion(196608, ['_pq_.a', '_pq_.b']);
    expect(bytes.subarray(0, 13)).toEqual(Buffer.from([0x76, 0, 0, 0, 26, 0, 3, 0, 0, 0, 0, 0, 2]));
    expect(parseNegotiateProtocolVersion(bytes)).toEqual({ version: 196608, unsupportedOptions: ['_pq_.a', '_pq_.b'] });
  });

  it('builds an SSLRequest', () => {
    expect(sslRequest()).toEqual(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
  });

  it('reads the authentication request code', () => {
    expect(authenticationCode(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]))).toBe(3);
    expect(() => authenticationCode(Buffer.from([0x45, 0, 0, 0, 4]))).toThrow();
  });
});
