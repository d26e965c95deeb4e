import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../endpoint.js';
import type { MetricsRegistry } from '../metrics/registry.js';
import type { Logger } from '../proxy/ports.js';
import { answer, type HealthSource, type Reply } from './routes.js';

/** What the probes report (defined beside the routes that read it). */
export type { HealthSource } from './routes.js';

/** A listening --http-listen server. */
export interface HealthServer {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: HostPort;
  /** Stops listening and closes its connections. */
  close(): Promise<void>;
}

/** Limits of the health server; the defaults suit probes and scrapers, tests shorten them. */
export interface HealthServerOptions {
  /** Time a client has to send a whole request, headers included (default 5 s): a trickling client cannot hold a socket. */
  readonly requestTimeoutMs?: number;
  /** Connections held at once (default 64); further ones are closed at accept. */
  readonly maxConnections?: number;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_CONNECTIONS = 64;
/** Probes come every few seconds at most; a longer idle keep-alive only holds a socket. */
const KEEP_ALIVE_TIMEOUT_MS = 2_000;

/** Sends `reply`; a HEAD gets the same headers and no body. */
function send(req: IncomingMessage, res: ServerResponse, reply: Reply): void {
  const body = Buffer.from(reply.body, 'utf8');
  res.writeHead(reply.status, {
    'Content-Type': reply.contentType,
    'Content-Length': body.length,
    'Cache-Control': 'no-store',
    ...reply.headers,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * Serves /startup, /liveness, /readiness and /metrics on `address` (node:http). Rejects when it cannot listen.
 * Request contents (paths, headers) are never logged: a scraper's headers may carry credentials.
 */
export async function startHealthServer(address: HostPort, source: HealthSource, metrics: MetricsRegistry, log: Logger,
  options: HealthServerOptions = {}): Promise<HealthServer> {
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const server = createServer({
    requestTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    // Node checks those two deadlines on this interval (30 s by default), so it bounds how late a slow client is cut.
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(timeoutMs / 4))),
  }, (req, res) => {
    let reply: Reply;
    try {
      reply = answer(req.method, req.url, source, metrics);
    } catch (err) {
      log.error({ err }, 'health server: answering a request failed');
      reply = { status: 500, body: 'internal error\n', contentType: 'text/plain; charset=utf-8' };
    }
    send(req, res, reply);
  });
  server.keepAliveTimeout = Math.min(KEEP_ALIVE_TIMEOUT_MS, timeoutMs);
  // A socket that goes quiet for longer than any request may take is closed, whatever state its parser is in.
  server.timeout = 2 * timeoutMs;
  server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;

  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void => {
      reject(new Error(`cannot listen for HTTP on ${formatAddress(address)}: ${listenError(err)}`, { cause: err }));
    };
    server.once('error', failed);
    server.listen({ host: address.host, port: address.port }, () => {
      server.off('error', failed);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'health server error'));

  const bound = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    address: { host: bound.address, port: bound.port },
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // idle keep-alive and in-flight ones alike: close() alone waits for them
      });
      return closing;
    },
  };
}

/** `host:port`, with an IPv6 host in brackets. */
function formatAddress({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Why listening failed, in words an operator acts on. */
function listenError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE': return 'the address is in use (another process listens there; pick another port)';
    case 'EADDRNOTAVAIL': return 'no interface of this machine has that address';
    case 'EACCES': return 'permission denied (ports below 1024 need privileges)';
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'the host name does not resolve';
    default: return err.message;
  }
}
