import { lookup } from 'node:dns/promises';
import { isIP, Socket } from 'node:net';
import { SqlState } from '../protocol/codes.js';
import { sslRequest } from '../protocol/messages.js';
import { ConnectionFailure } from '../proxy/ports.js';
import { silentEndpointHint } from './hints.js';

const KEEPALIVE_DELAY_MS = 30_000;
const SSL_ACCEPTED = 0x53; // 'S'
const SSL_REFUSED = 0x4e; // 'N'

/** Wires a step's own events; returns what removes them again. */
type StepStart<T> = (resolve: (value: T) => void, reject: (error: unknown) => void) => () => void;

/**
 * One step of a dial as a promise that settles once: by the step's own events, by its deadline or by `signal`.
 * Whichever comes first, the timer is cleared, the abort listener and the step's listeners are removed, so a
 * settled dial leaves nothing behind. Destroying sockets is the caller's part.
 */
export function dialStep<T>(signal: AbortSignal | undefined, target: string, timeoutMs: number, onTimeout: () => Error,
  start: StepStart<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) { reject(abortFailure(signal, target)); return; }
    let settled = false;
    let stop: (() => void) | undefined;
    const settle = (finish: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      stop?.();
      finish();
    };
    const onAbort = (): void => settle(() => reject(abortFailure(signal!, target)));
    const timer = setTimeout(() => settle(() => reject(onTimeout())), Math.max(0, timeoutMs));
    signal?.addEventListener('abort', onAbort);
    const remove = start((value) => settle(() => resolve(value)), (error) => settle(() => reject(error)));
    // `start` may have settled the step synchronously, before its removal was known.
    if (settled) remove(); else stop = remove;
  });
}

/** What a dial stopped by its signal rejects with: the signal's reason when it is a ConnectionFailure. */
export function abortFailure(signal: AbortSignal, target: string): ConnectionFailure {
  const reason: unknown = signal.reason;
  if (reason instanceof ConnectionFailure) return reason;
  const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
  return new ConnectionFailure(SqlState.unableToConnect,
    timedOut ? `could not connect to ${target} before the connection's deadline` : `stopped connecting to ${target}: the connection was abandoned`,
    timedOut ? 'Check that the endpoint answers (dsql-proxy doctor), or raise --connect-timeout.' : undefined, { cause: reason });
}

/** Resolves a name with the system resolver (getaddrinfo), every address in its order. */
export async function defaultResolve(host: string): Promise<string[]> {
  const results = await lookup(host, { all: true, verbatim: true });
  return results.map((r) => r.address);
}

/** The endpoint's addresses (the IP itself for an IP); a failure is a ConnectionFailure with the DNS hint. */
export async function resolveAddresses(host: string, resolve: (h: string) => Promise<string[]>, timeoutMs: number,
  signal?: AbortSignal): Promise<string[]> {
  if (isIP(host)) return [host];
  const hint = `Check --endpoint: use the DNS name of the DSQL connection endpoint (aws ec2 describe-vpc-endpoints, DnsEntries), `
    + `resolvable from this host. Outside the VPC (peering, Direct Connect) resolve it through a Route 53 Resolver inbound endpoint, `
    + `or pass one of the endpoint's IP addresses with --region and --service-identifier.`;
  try {
    const addresses = await dialStep<string[]>(signal, host, timeoutMs,
      () => Object.assign(new Error('timed out'), { code: 'ETIMEOUT' }),
      (done, fail) => { resolve(host).then(done, fail); return () => undefined; });
    if (addresses.length === 0) throw Object.assign(new Error('no addresses'), { code: 'ENODATA' });
    return addresses;
  } catch (error) {
    if (error instanceof ConnectionFailure) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ConnectionFailure(SqlState.unableToConnect, `could not resolve endpoint "${host}" (${code})`, hint, { cause: error });
  }
}

/** One TCP connection with no-delay and keep-alive; rejects with the socket error, code ETIMEDOUT, or the abort's ConnectionFailure. */
export async function connectTcp(address: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  const socket = new Socket();
  socket.connect({ host: address, port });
  await tcpConnected(socket, `${address}:${port}`, timeoutMs, signal);
  return socket;
}

/**
 * Resolves once `socket` (connecting) has connected, with no-delay and keep-alive set; otherwise destroys it
 * and rejects with the socket error, code ETIMEDOUT, or the abort's ConnectionFailure.
 */
export async function tcpConnected(socket: Socket, target: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  try {
    await dialStep<void>(signal, target, timeoutMs,
      () => Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }),
      (done, fail) => {
        const onConnect = (): void => done();
        socket.once('error', fail).once('connect', onConnect);
        return () => socket.off('error', fail).off('connect', onConnect);
      });
  } catch (error) {
    socket.destroy();
    throw error;
  }
  socket.setNoDelay(true);
  socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
}

/** Sends SSLRequest and waits for exactly one 'S' byte; anything else (or the signal) is a ConnectionFailure. */
export function negotiateSsl(socket: Socket, deadline: number, target: string, seconds: number, signal?: AbortSignal): Promise<void> {
  const notDsql = 'Check that --endpoint names the Aurora DSQL connection endpoint and port 5432.';
  const failure = (message: string, hint: string): ConnectionFailure => new ConnectionFailure(SqlState.unableToConnect, message, hint);
  return dialStep<void>(signal, target, deadline - Date.now(),
    () => failure(`could not connect to ${target} within ${seconds} s: TCP connected but the SSL request got no answer`,
      silentEndpointHint(target, 'postgres')),
    (done, fail) => {
      const onData = (chunk: Buffer): void => {
        if (chunk[0] === SSL_ACCEPTED && chunk.length === 1) done();
        else if (chunk[0] === SSL_ACCEPTED) fail(failure(`${target} sent unencrypted data after accepting TLS`, notDsql));
        else if (chunk[0] === SSL_REFUSED) fail(failure(`${target} refused TLS (answered N to the SSL request)`, notDsql));
        else fail(failure(`${target} answered the SSL request with unexpected byte 0x${chunk[0]!.toString(16)}`, notDsql));
      };
      const onEnd = (): void => fail(failure(`${target} closed the connection before answering the SSL request`, notDsql));
      const onError = (error: Error): void => fail(failure(
        `${target} failed before answering the SSL request (${(error as NodeJS.ErrnoException).code ?? error.message})`, notDsql));
      socket.on('data', onData).once('end', onEnd).once('error', onError);
      socket.write(sslRequest());
      return () => {
        socket.off('data', onData).off('end', onEnd).off('error', onError);
        socket.pause();
      };
    });
}
