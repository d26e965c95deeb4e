import type { Dialer } from './ports.js';

/**
 * Forwards a CancelRequest: a new upstream connection over the same route (SSLRequest, TLS with the
 * same servername), the request bytes exactly as the client sent them, then close. The server never
 * answers a CancelRequest, so completion means the bytes were flushed.
 */
export async function forwardCancel(dialer: Dialer, request: Buffer): Promise<string> {
  const upstream = await dialer.dial();
  await new Promise<void>((resolve, reject) => {
    upstream.socket.once('error', reject);
    upstream.socket.end(request, () => resolve());
  }).finally(() => upstream.socket.destroy());
  return upstream.remoteAddress;
}
