import { request, type Agent, type IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../../src/proxy/ports.js';
import type { HealthSource } from '../../src/http/health-server.js';

/** A logger that keeps every line (fields and message) as JSON text, to check what was and was not logged. */
export function captureLogger(lines: string[] = []): Logger & { lines: string[] } {
  const method = (level: string) => (fields: object, message?: string): void => {
    lines.push(JSON.stringify({ level, ...fields, message }, (_key, value: unknown) => (value instanceof Error ? { message: value.message, stack: value.stack } : value)));
  };
  const logger: Logger & { lines: string[] } = {
    lines,
    trace: method('trace'), debug: method('debug'), info: method('info'), warn: method('warn'), error: method('error'),
    child: () => logger,
  };
  return logger;
}

/** A HealthSource whose answers the test flips. */
export class FakeSource implements HealthSource {
  isStarted = false;
  ready: { ready: boolean; reason?: string } = { ready: false, reason: 'draining' };
  started(): boolean { return this.isStarted; }
  readiness(): { ready: boolean; reason?: string } { return this.ready; }
}

/** One HTTP exchange with a real socket. */
export function fetchRaw(port: number, path: string, options: { method?: string; agent?: Agent; headers?: Record<string, string> } = {}):
  Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', agent: options.agent ?? false, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
