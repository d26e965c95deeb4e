import type { Duplex } from 'node:stream';
import { AuthCode, authMethodName, MessageType, PROTOCOL_3_0, SqlState } from '../protocol/codes.js';
import { ProtocolError } from '../protocol/errors.js';
import { authenticationCode, parseErrorResponse, passwordMessage, type ErrorFields } from '../protocol/messages.js';
import { serializeStartupMessage, type StartupParameter } from '../protocol/startup.js';
import { FrameStream, StreamClosedError } from './frame-stream.js';
import { deadline, DeadlineExceeded } from './abort.js';
import { ConnectionFailure } from './ports.js';

/** The server refused the login with an ErrorResponse; `frame` is it, byte for byte. */
export class ServerRejection extends Error {
  constructor(readonly frame: Buffer, readonly fields: ErrorFields) {
    super(fields.message);
    this.name = 'ServerRejection';
  }
}

/** A finished upstream login. */
export interface AuthenticatedUpstream {
  /** Every frame from AuthenticationOk to the first ReadyForQuery, in order, for the client. */
  readonly greeting: Buffer;
  /** The BackendKeyData body (process id and secret key), when the server sent one. */
  readonly backendKey: Buffer | undefined;
  /** Bytes the server sent after that ReadyForQuery. */
  readonly remainder: Buffer;
}

/** What a login needs. */
export interface LoginRequest {
  readonly parameters: readonly StartupParameter[];
  /** The IAM token, signed before dialing. */
  readonly token: string;
  readonly timeoutMs: number;
  /** Aborts the login at once (the client left, the server is shutting down). */
  readonly signal?: AbortSignal;
  /** Called with each NoticeResponse frame received before AuthenticationOk. */
  readonly onNotice?: (frame: Buffer) => void;
}

/** DSQL's own message limit is 10 MiB; nothing during authentication comes near it. */
const MAX_HANDSHAKE_MESSAGE = 10 * 1024 * 1024;
const READY_FOR_QUERY = 0x5a; // 'Z'

/**
 * Sends a 3.0 StartupMessage on an established upstream stream, answers the server's cleartext password request
 * with the token, and reads on to the first ReadyForQuery (capturing BackendKeyData, so the proxy knows the cancel
 * key it hands out). Rejects with ServerRejection (an ErrorResponse), ConnectionFailure, ProtocolError, or the
 * signal's reason. The stream is left paused, listeners removed.
 */
export async function authenticateUpstream(server: Duplex, request: LoginRequest): Promise<AuthenticatedUpstream> {
  const reader = new FrameStream(server, 'typed', MAX_HANDSHAKE_MESSAGE);
  const limit = deadline(request.signal ?? new AbortController().signal, request.timeoutMs);
  const onAbort = (): void => {
    const reason = limit.signal.reason as Error;
    reader.abort(reason instanceof DeadlineExceeded ? new ConnectionFailure(SqlState.unableToConnect,
      `the server did not complete authentication within ${request.timeoutMs / 1000} s`,
      'Check the cluster status (aws dsql get-cluster) and retry.') : reason);
  };
  if (limit.signal.aborted) onAbort();
  else limit.signal.addEventListener('abort', onAbort, { once: true });
  try {
    server.write(serializeStartupMessage(PROTOCOL_3_0, request.parameters));
    const greeting: Buffer[] = [];
    let backendKey: Buffer | undefined;
    for (;;) {
      const frame = await readFrame(reader);
      const type = frame[0];
      if (type === MessageType.errorResponse) throw new ServerRejection(frame, parseErrorResponse(frame));
      if (greeting.length > 0) {
        // After AuthenticationOk everything goes to the client as it came; only the key is noted.
        greeting.push(frame);
        if (type === MessageType.backendKeyData) backendKey = frame.subarray(5);
        if (type === READY_FOR_QUERY) return { greeting: Buffer.concat(greeting), backendKey, remainder: reader.detach() };
        continue;
      }
      switch (type) {
        case MessageType.authentication: {
          const code = authenticationCode(frame);
          if (code === AuthCode.ok) { greeting.push(frame); break; }
          if (code !== AuthCode.cleartextPassword) {
            throw new ConnectionFailure(SqlState.invalidAuthorization,
              `the server requested ${authMethodName(code)} authentication; dsql-proxy answers only cleartext password requests with IAM tokens`,
              'Check that --endpoint points at an Aurora DSQL connection endpoint.');
          }
          server.write(passwordMessage(request.token));
          break;
        }
        case MessageType.noticeResponse:
          request.onNotice?.(frame);
          break;
        case MessageType.negotiateProtocolVersion:
          break; // the proxy asked for plain 3.0; nothing to adapt
        default:
          throw new ProtocolError(`unexpected message type '${String.fromCharCode(type!)}' from the server during authentication`);
      }
    }
  } finally {
    limit.clear();
    limit.signal.removeEventListener('abort', onAbort);
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
