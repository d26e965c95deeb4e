/** Wire constants of the PostgreSQL frontend/backend protocol (PostgreSQL 18 `pqcomm.h`, protocol docs §55.7). */

/** Request code of an SSLRequest packet. */
export const SSL_REQUEST_CODE = 80877103;
/** Request code of a GSSENCRequest packet. */
export const GSSENC_REQUEST_CODE = 80877104;
/** Request code of a CancelRequest packet. */
export const CANCEL_REQUEST_CODE = 80877102;
/** Protocol version 3.0 as sent in a StartupMessage. */
export const PROTOCOL_3_0 = 3 << 16;
/** Largest startup packet body PostgreSQL accepts (`MAX_STARTUP_PACKET_LENGTH`). */
export const MAX_STARTUP_PACKET_LENGTH = 10_000;
/** Prefix of protocol-extension startup parameters (`_pq_.name`). */
export const PROTOCOL_EXTENSION_PREFIX = '_pq_.';

/** Type bytes of the backend and frontend messages the proxy reads or writes. */
export const MessageType = {
  authentication: 0x52, // 'R'
  backendKeyData: 0x4b, // 'K'
  errorResponse: 0x45, // 'E'
  noticeResponse: 0x4e, // 'N'
  negotiateProtocolVersion: 0x76, // 'v'
  passwordMessage: 0x70, // 'p'
  parameterStatus: 0x53, // 'S'
} as const;

/** Authentication request codes carried by an 'R' message. */
export const AuthCode = {
  ok: 0,
  kerberosV5: 2,
  cleartextPassword: 3,
  md5Password: 5,
  gss: 7,
  gssContinue: 8,
  sspi: 9,
  sasl: 10,
  saslContinue: 11,
  saslFinal: 12,
} as const;

/** Human-readable name of an authentication request code, for error messages. */
export function authMethodName(code: number): string {
  switch (code) {
    case AuthCode.kerberosV5: return 'Kerberos V5';
    case AuthCode.cleartextPassword: return 'cleartext password';
    case AuthCode.md5Password: return 'MD5 password';
    case AuthCode.gss: case AuthCode.gssContinue: return 'GSSAPI';
    case AuthCode.sspi: return 'SSPI';
    case AuthCode.sasl: case AuthCode.saslContinue: case AuthCode.saslFinal: return 'SASL (SCRAM)';
    default: return `unknown method ${code}`;
  }
}

/** SQLSTATE codes the proxy reports (PostgreSQL Appendix A). */
export const SqlState = {
  protocolViolation: '08P01',
  unableToConnect: '08001',
  connectionFailure: '08006',
  rejectedEstablishment: '08004',
  invalidAuthorization: '28000',
  invalidPassword: '28P01',
  adminShutdown: '57P01',
  tooManyConnections: '53300',
  configurationLimitExceeded: '53400',
  internalError: 'XX000',
} as const;
