import type { Duplex } from 'node:stream';
import { AuthCode, authMethodName, MessageType, PROTOCOL_3_0, SqlState } from '../protocol/codes.js';
import { ProtocolError } from '../protocol/errors.js';
import { authenticationCode, parseErrorResponse, passwordMessage, type ErrorFields } from '../protocol/messages.js';
import { serializeStartupMessage, type StartupParameter } from '../protocol/startup.js';
import { FrameStream, StreamClosedError } from './frame-stream.js';
import { ConnectionFailure, type TokenProvider } from './ports.js';

/** The server refused the login with an ErrorResponse; `frame` is it, byte for byte. */
export class ServerRejection extends Error {
  constructor(readonly frame: Buffer, readonly fields: ErrorFields) {
    super(fields.message);
    this.name = 'ServerRejection';
  }
}

/** A finished upstream login. */
export interface AuthenticatedUpstream {
  /** The AuthenticationOk frame. */
  readonly authOk: Buffer;
  /** Bytes the server sent after AuthenticationOk (ParameterStatus, BackendKeyData, ReadyForQuery, …). */
  readonly remainder: Buffer;
}

/** What a login needs. */
export interface LoginRequest {
  readonly parameters: readonly StartupParameter[];
  readonly user: string;
  readonly tokens: TokenProvider;
  readonly timeoutMs: number;
  /** Called with each NoticeResponse frame received before AuthenticationOk. */
  readonly onNotice?: (frame: Buffer) => void;
}

/** DSQL's own message limit is 10 MiB; nothing during authentication comes near it. */
const MAX_HANDSHAKE_MESSAGE = 10 * 1024 * 1024;

/**
 * Sends a 3.0 StartupMessage on an established upstream stream and answers the server's cleartext
 * password request with a fresh IAM token. Resolves at AuthenticationOk; rejects with ServerRejection
 * (an ErrorResponse), ConnectionFailure or ProtocolError. The stream is left paused, listeners removed.
 */
export async function authenticateUpstream(server: Duplex, request: LoginRequest): Promise<AuthenticatedUpstream> {
  const reader = new FrameStream(server, 'typed', MAX_HANDSHAKE_MESSAGE);
  const timer = setTimeout(() => reader.abort(new ConnectionFailure(SqlState.unableToConnect,
    `the server did not complete authentication within ${request.timeoutMs / 1000} s`,
    'Check the cluster status (aws dsql get-cluster) and retry.')), request.timeoutMs);
  try {
    server.write(serializeStartupMessage(PROTOCOL_3_0, request.parameters));
    for (;;) {
      const frame = await readFrame(reader);
      switch (frame[0]) {
        case MessageType.authentication: {
          const code = authenticationCode(frame);
          if (code === AuthCode.ok) return { authOk: frame, remainder: reader.detach() };
          if (code !== AuthCode.cleartextPassword) {
            throw new ConnectionFailure(SqlState.invalidAuthorization,
              `the server requested ${authMethodName(code)} authentication; dsql-proxy answers only cleartext password requests with IAM tokens`,
              'Check that --endpoint points at an Aurora DSQL connection endpoint.');
          }
          server.write(passwordMessage(await request.tokens.token(request.user)));
          break;
        }
        case MessageType.errorResponse:
          throw new ServerRejection(frame, parseErrorResponse(frame));
        case MessageType.noticeResponse:
          request.onNotice?.(frame);
          break;
        case MessageType.negotiateProtocolVersion:
          break; // the proxy asked for plain 3.0; nothing to adapt
        default:
          throw new ProtocolError(`unexpected message type '${String.fromCharCode(frame[0]!)}' from the server during authentication`);
      }
    }
  } finally {
    clearTimeout(timer);
    reader.detach();
  }
}

async function readFrame(reader: FrameStream): Promise<Buffer> {
  try {
    return await reader.next();
  } catch (error) {
    if (error instanceof StreamClosedError) {
      throw new ConnectionFailure(SqlState.connectionFailure, 'the server closed the connection during authentication',
        'Check the cluster status (aws dsql get-cluster) and the dsql-proxy log.', { cause: error });
    }
    throw error;
  }
}
