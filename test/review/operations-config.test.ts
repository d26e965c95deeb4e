/** Review of issue 11 as a careless operator would meet it: --config mistakes, settings that silently lose. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { main, parseServeSettings } from '../../src/cli.js';
import type { Io } from '../../src/commands/output.js';
import { ConfigError } from '../../src/config.js';

const VPCE = 'vpce-0123456789abcdef0-abcdefgh.dsql-fnh4.us-east-1.vpce.amazonaws.com';
const ID = 'abcdefghijklmnopqrstuvwxyz';

const dir = mkdtempSync(join(tmpdir(), 'dsql-proxy-review-config-'));
let count = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => { vi.unstubAllEnvs(); });

function configFile(content: unknown, where = dir): string {
  const path = join(where, `config-${count++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

async function settingsError(argv: string[]): Promise<ConfigError> {
  try {
    await parseServeSettings(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

/** Runs the CLI in-process and returns its exit code and stderr. */
async function cli(argv: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const io: Io = { out: () => undefined, err: (text: string) => { err += text; } } as Io;
  const code = await main(argv, io);
  return { code, err };
}

describe('relative paths in a --config file', () => {
  it('are taken from the file\'s directory (a service\'s working directory is /), at the top level and in a listener entry', async () => {
    const etc = join(dir, 'etc');
    mkdirSync(etc, { recursive: true });
    const path = configFile({
      'cluster-id': ID, endpoint: VPCE, 'ca-file': 'certs/ca.pem', 'auth-file': './userlist.txt',
      listeners: [{ listen: '127.0.0.1:6001' }, { listen: '127.0.0.1:6002', 'tls-cert': 'tls/cert.pem', 'tls-key': 'tls/key.pem', 'unix-socket': 'run' }],
    }, etc);
    const settings = await parseServeSettings(['--config', path]);
    expect(settings.listeners[0]!.caFile).toBe(join(etc, 'certs/ca.pem'));
    expect(settings.listeners[0]!.authFile).toBe(join(etc, 'userlist.txt'));
    expect(settings.listeners[1]!.tlsCert).toBe(join(etc, 'tls/cert.pem'));
    expect(settings.listeners[1]!.tlsKey).toBe(join(etc, 'tls/key.pem'));
    expect(settings.listeners[1]!.unixSocket).toBe(join(etc, 'run'));
  });

  it('leave absolute paths, and paths given as flags or variables (relative to the working directory), as they are', async () => {
    vi.stubEnv('DSQL_PROXY_AUTH_FILE', 'users.txt');
    const path = configFile({ 'cluster-id': ID, endpoint: VPCE, 'ca-file': '/etc/ssl/ca.pem' });
    const settings = await parseServeSettings(['--config', path, '--tls-cert', 'cert.pem']);
    expect(settings.listeners[0]!.caFile).toBe('/etc/ssl/ca.pem');
    expect(settings.listeners[0]!.authFile).toBe('users.txt');
    expect(settings.listeners[0]!.tlsCert).toBe('cert.pem');
  });
});

describe('config file mistakes', () => {
  it('a key given twice is refused with its line, instead of JSON keeping the last value silently', async () => {
    const path = configFile(`{\n  "cluster-id": "${ID}",\n  "endpoint": "a.example",\n  "endpoint": "${VPCE}"\n}\n`);
    const error = await settingsError(['--config', path]);
    expect(error.message).toContain('"endpoint" is set twice');
    expect(error.message).toContain('line 4');
  });

  it('a key given twice inside one listener entry is refused too, while the same key in two entries is fine', async () => {
    const twice = configFile({ 'cluster-id': ID, endpoint: VPCE, listeners: [{ listen: '127.0.0.1:6001' }, { listen: '127.0.0.1:6002' }] });
    await expect(parseServeSettings(['--config', twice])).resolves.toBeDefined();
    const path = configFile(`{"cluster-id": "${ID}", "endpoint": "${VPCE}",\n "listeners": [{"listen": "127.0.0.1:6001", "listen": "127.0.0.1:6003"}]}`);
    const error = await settingsError(['--config', path]);
    expect(error.message).toContain('"listen" is set twice');
    expect(error.message).toContain('line 2');
  });

  it('a key in the wrong case or spelling names the key it means', async () => {
    for (const [wrong, meant] of [['Endpoint', 'endpoint'], ['cluster_id', 'cluster-id'], ['caFile', 'ca-file'], ['--listen', 'listen']]) {
      const path = configFile({ 'cluster-id': ID, endpoint: VPCE, [wrong]: 'x' });
      const error = await settingsError(['--config', path]);
      expect(error.message).toContain(`unknown key "${wrong}": did you mean "${meant}"?`);
    }
  });

  it('"listen": 5432 as a JSON number says how to write it', async () => {
    const path = configFile({ 'cluster-id': ID, endpoint: VPCE, listen: 5432 });
    const error = await settingsError(['--config', path]);
    expect(error.message).toContain('"listen" must be a string, not number 5432');
    expect(error.message).toContain('"5432"');
  });
});

describe('variables that override the --config file', () => {
  it('are named on stderr, so an image\'s ENV defaults do not silently beat the file', async () => {
    // The image sets DSQL_PROXY_HTTP_LISTEN and DSQL_PROXY_MAX_SIGTERM_DELAY; the operator's file asks for others.
    vi.stubEnv('DSQL_PROXY_HTTP_LISTEN', '127.0.0.1:9801');
    vi.stubEnv('DSQL_PROXY_MAX_SIGTERM_DELAY', '30');
    const path = configFile({ 'cluster-id': ID, endpoint: VPCE, 'http-listen': '0.0.0.0:9090', 'max-sigterm-delay': 120, 'log-level': 'debug',
      'service-identifier': 'dsql-fnh4', region: 'us-east-1', listen: '127.0.0.1:0' });
    const settings = await parseServeSettings(['--config', path, '--log-level', 'debug']);
    expect(settings.service.httpListen).toBe('127.0.0.1:9801'); // the documented precedence stands
    const notes = settings.overridden.join('\n');
    expect(notes).toContain('http-listen');
    expect(notes).toContain('max-sigterm-delay');
    expect(notes).not.toContain('log-level'); // the same value given twice is no surprise
  });

  it('the serve command prints the note before it checks anything', async () => {
    vi.stubEnv('DSQL_PROXY_LISTEN', '0.0.0.0:5432');
    const path = configFile({ 'cluster-id': ID, endpoint: VPCE, listen: '127.0.0.1:6543', 'max-connections': -1 });
    const { code, err } = await cli(['--config', path]);
    expect(code).toBe(2); // the bad max-connections stops it before anything listens
    expect(err).toMatch(/DSQL_PROXY_LISTEN or --listen \(0\.0\.0\.0:5432\) overrides "listen" \(127\.0\.0\.1:6543\) of .*config-\d+\.json/);
  });
});
