import { request } from 'node:http';
import type { HostPort } from '../endpoint.js';

/** Where to probe: a URL (`http://host:port/path`) or its parts. */
export type ProbeTarget = string | (HostPort & { readonly path?: string });

/** The answer of a probe. */
export interface ProbeResult {
  /** HTTP status code. */
  readonly status: number;
  /** Body as text, cut at MAX_BODY_BYTES. */
  readonly body: string;
}

/** A probe reads no more than this: /readiness answers in a line, and the caller is a health check. */
const MAX_BODY_BYTES = 1024 * 1024;

/** A listen address that means "every interface" is reached on the loopback address of its family. */
export function connectHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === '' || bare === '0.0.0.0') return '127.0.0.1';
  if (bare === '::' || bare === '::0') return '::1';
  return bare;
}

/** The target as host, port and path, checked. */
function parts(target: ProbeTarget): { host: string; port: number; path: string } {
  if (typeof target !== 'string') return { host: connectHost(target.host), port: target.port, path: target.path ?? '/' };
  const url = new URL(target);
  if (url.protocol !== 'http:') throw new Error(`cannot probe ${target}: only http:// URLs are supported`);
  return { host: connectHost(url.hostname), port: Number(url.port || 80), path: `${url.pathname}${url.search}` };
}

/**
 * GETs `target` and resolves with the status and body, whatever the status. Rejects with a message naming the URL
 * when nothing listens there, or when no complete answer came within `timeoutMs` (connecting included).
 */
export function probe(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  return new Promise<ProbeResult>((resolve, reject) => {
    const { host, port, path } = parts(target);
    const where = `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
    // agent: false, so no pooled keep-alive socket outlives the probe and holds the process open.
    const req = request({ host, port, path, method: 'GET', agent: false, headers: { Connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size >= MAX_BODY_BYTES) return;
        chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8') });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`the answer from ${where} was cut short: ${err.message}`, { cause: err }));
      });
    });
    const timeout = new Error(`no answer from ${where} within ${timeoutMs} ms`);
    const timer = setTimeout(() => {
      reject(timeout);
      req.destroy(timeout);
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err === timeout) reject(timeout);
      else if (err.code === 'ECONNREFUSED') reject(new Error(`nothing listens on ${where} (connection refused)`, { cause: err }));
      else reject(new Error(`cannot reach ${where}: ${err.message}`, { cause: err }));
    });
    req.end();
  });
}
