import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { parseServeSettings } from '../src/cli.js';
import { CONFIG_FILE_KINDS, GLOBAL_ONLY_KEYS } from '../src/commands/options.js';
import { parseConfigFile } from '../src/config-file.js';
import { jsonErrorPosition } from '../src/json-position.js';
import { ConfigError, resolveConfig, type ProxyConfig } from '../src/config.js';
import { checkListeners, resolveServiceConfig } from '../src/service-config.js';

const VPCE = 'vpce-0123456789abcdef0-abcdefgh.dsql-fnh4.us-east-1.vpce.amazonaws.com';
const OTHER_VPCE = 'vpce-0fedcba9876543210-zyxwvuts.dsql-a1b2.eu-west-1.vpce.amazonaws.com';
const ID = 'abcdefghijklmnopqrstuvwxyz';
const SCHEMA = { kinds: CONFIG_FILE_KINDS, globalOnly: GLOBAL_ONLY_KEYS };

const dir = mkdtempSync(join(tmpdir(), 'dsql-proxy-config-'));
let fileCount = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => { vi.unstubAllEnvs(); });

/** Writes `content` (JSON-encoded unless a string) to a fresh file and returns its path. */
function configFile(content: unknown): string {
  const path = join(dir, `config-${fileCount++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

function parseError(text: string): ConfigError {
  try {
    parseConfigFile(text, 'f.json', SCHEMA);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

async function settingsError(argv: string[]): Promise<Error> {
  try {
    await parseServeSettings(argv);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('a --config file is checked key by key', () => {
  it('takes long flag names, JSON booleans, and numbers as numbers or text', () => {
    const file = parseConfigFile(JSON.stringify({
      endpoint: VPCE, 'keep-database': true, 'connect-timeout': 30, 'token-expires': '600',
      listeners: [{ 'cluster-id': ID, listen: '127.0.0.1:6432' }],
    }), 'f.json', SCHEMA);
    expect(file.top).toEqual({ endpoint: VPCE, 'keep-database': true, 'connect-timeout': 30, 'token-expires': '600' });
    expect(file.listeners).toEqual([{ 'cluster-id': ID, listen: '127.0.0.1:6432' }]);
  });

  it('describes one listener when it has no "listeners"', () => {
    expect(parseConfigFile(`{"endpoint": "${VPCE}"}`, 'f.json', SCHEMA).listeners).toBeUndefined();
  });

  it.each([
    ['{\n  "endpoint": "x",\n  "route": sni\n}', /--config: f\.json: not valid JSON at line 3 column 12/],
    ['{"endpoint": "x",', /--config: f\.json: not valid JSON at line 1 column 18/],
    ['[]', /f\.json: the top level must be an object of settings, not an array/],
    ['{"endpont": "x"}', /f\.json: unknown key "endpont"/],
    ['{"listeners": [{"listen": "1", "lisen": "2"}]}', /f\.json: listeners\[0\]: unknown key "lisen"/],
    ['{"keep-database": "yes"}', /f\.json: "keep-database" must be true or false, not string "yes"/],
    ['{"connect-timeout": true}', /f\.json: "connect-timeout" must be a number \(or its text\), not boolean true/],
    ['{"listen": 6432}', /f\.json: "listen" must be a string, not number 6432/],
    ['{"endpoint": null}', /f\.json: "endpoint" must be a string, not null/],
    ['{"listeners": {"listen": "1"}}', /f\.json: "listeners" must be an array of objects, not an object/],
    ['{"listeners": []}', /f\.json: "listeners" is empty/],
    ['{"listeners": ["127.0.0.1:1"]}', /f\.json: listeners\[0\] must be an object of settings, not string "127\.0\.0\.1:1"/],
    ['{"listeners": [{}, {"log-level": "debug"}]}', /f\.json: listeners\[1\]: "log-level" applies to the whole process: set it at the top level/],
    ['{"listeners": [{"http-listen": "9090"}]}', /listeners\[0\]: "http-listen" applies to the whole process/],
    ['{"listeners": [{"max-connections": 5}]}', /listeners\[0\]: "max-connections" applies to the whole process/],
    ['{"listeners": [{"listeners": []}]}', /listeners\[0\]: unknown key "listeners"/],
    ['{"config": "other.json"}', /f\.json: "config": a config file cannot name another one/],
  ])('refuses %j', (text, message) => {
    const error = parseError(text);
    expect(error.flag).toBe('--config');
    expect(error.message).toMatch(message);
  });
});

describe('where a JSON text breaks', () => {
  it.each([
    ['{"a": 1,}', { line: 1, column: 9 }],
    ['{\n  "a": [1, 2\n}', { line: 3, column: 1 }],
    ['{"a": "tab\there"}', { line: 1, column: 11 }],
    ['{"a": 01}', { line: 1, column: 8 }],
    ['{"a": tru}', { line: 1, column: 7 }],
    ['{} {}', { line: 1, column: 4 }],
    ['', { line: 1, column: 1 }],
  ])('%j breaks at %j', (text, position) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(jsonErrorPosition(text)).toEqual(position);
  });

  it.each(['{}', '[]', ' {"a": [1, -2.5e3, true, false, null, "\\u00e9\\n", {"b": {}}]} ', '"x"', '0'])('finds nothing wrong in %j', (text) => {
    expect(() => JSON.parse(text)).not.toThrow();
    expect(jsonErrorPosition(text)).toBeUndefined();
  });
});

describe('precedence: defaults < file top level < DSQL_PROXY_* variables < flags < the listener\'s own entry', () => {
  it('a value the file gives is not overridden by a flag\'s default', async () => {
    const path = configFile({ endpoint: VPCE, 'cluster-id': ID, route: 'option', 'connect-timeout': 30, 'keep-database': true, 'max-connect-rate': 7 });
    const { listeners: [raw] } = await parseServeSettings(['--config', path]);
    const config = resolveConfig(raw!);
    expect(config).toMatchObject({ route: 'option', connectTimeoutMs: 30_000, keepDatabase: true, listen: { host: '127.0.0.1', port: 5432 } });
    expect(raw!.maxConnectRate).toBe(7);
  });

  it('a variable wins over the file, and a flag over the variable', async () => {
    const path = configFile({ endpoint: VPCE, 'cluster-id': ID, 'connect-timeout': 30, 'startup-timeout': 20, 'token-expires': 600 });
    vi.stubEnv('DSQL_PROXY_CONNECT_TIMEOUT', '40');
    vi.stubEnv('DSQL_PROXY_STARTUP_TIMEOUT', '25');
    const { listeners: [raw] } = await parseServeSettings(['--config', path, '--startup-timeout', '5']);
    expect(resolveConfig(raw!)).toMatchObject({ connectTimeoutMs: 40_000, startupTimeoutMs: 5_000, tokenExpiresSeconds: 600 });
  });

  it('a negated boolean flag counts as given', async () => {
    const path = configFile({ endpoint: VPCE, 'cluster-id': ID, route: 'option', 'inject-cluster-id': true });
    const { listeners: [raw] } = await parseServeSettings(['--config', path, '--no-inject-cluster-id']);
    expect(resolveConfig(raw!).injectClusterId).toBe(false);
  });

  it('each listener\'s own keys win over flags and variables, so one DSQL_PROXY_LISTEN does not make them collide', async () => {
    const path = configFile({
      endpoint: VPCE, 'connect-timeout': 30,
      listeners: [
        { 'cluster-id': ID, listen: '127.0.0.1:6432' },
        { 'cluster-id': 'zyxwvutsrqponmlkjihgfedcba', endpoint: OTHER_VPCE, listen: '127.0.0.1:6433', 'connect-timeout': 3 },
      ],
    });
    vi.stubEnv('DSQL_PROXY_LISTEN', '0.0.0.0:5432');
    const settings = await parseServeSettings(['--config', path, '--connect-timeout', '12']);
    const [a, b] = settings.listeners.map((raw) => resolveConfig(raw));
    expect(a).toMatchObject({ clusterId: ID, region: 'us-east-1', listen: { port: 6432 }, connectTimeoutMs: 12_000 });
    expect(b).toMatchObject({ clusterId: 'zyxwvutsrqponmlkjihgfedcba', region: 'eu-west-1', serviceIdentifier: 'dsql-a1b2', listen: { port: 6433 }, connectTimeoutMs: 3_000 });
  });

  it('process-wide keys come from the file\'s top level unless a variable or flag gives them', async () => {
    const path = configFile({ endpoint: VPCE, 'cluster-id': ID, 'http-listen': '9090', 'max-connections': 50, 'max-sigterm-delay': 30, 'log-level': 'warn', check: true, user: 'reader' });
    const fromFile = await parseServeSettings(['--config', path]);
    expect(resolveServiceConfig(fromFile.service)).toEqual({
      httpListen: { host: '127.0.0.1', port: 9090 }, maxConnections: 50, maxSigtermDelayMs: 30_000, logLevel: 'warn',
    });
    expect(fromFile).toMatchObject({ check: true, user: 'reader' });
    vi.stubEnv('DSQL_PROXY_HTTP_LISTEN', '0.0.0.0:9100');
    const overridden = await parseServeSettings(['--config', path, '--max-connections', '0', '--log-level', 'info']);
    expect(resolveServiceConfig(overridden.service)).toMatchObject({
      httpListen: { host: '0.0.0.0', port: 9100 }, maxConnections: 0, maxSigtermDelayMs: 30_000, logLevel: 'info',
    });
  });

  it('without --config the defaults apply as before', async () => {
    const settings = await parseServeSettings(['--cluster-id', ID, '--endpoint', VPCE]);
    expect(settings.file).toBeUndefined();
    expect(settings.listeners).toHaveLength(1);
    expect(resolveServiceConfig(settings.service)).toEqual({ httpListen: undefined, maxConnections: 0, maxSigtermDelayMs: 0, logLevel: 'info' });
    expect(settings.listeners[0]!.maxConnectRate).toBe(100);
  });

  it('DSQL_PROXY_CONFIG names the file too', async () => {
    vi.stubEnv('DSQL_PROXY_CONFIG', configFile({ endpoint: VPCE, 'cluster-id': ID, listen: '7777' }));
    const { listeners: [raw] } = await parseServeSettings([]);
    expect(resolveConfig(raw!).listen).toEqual({ host: '127.0.0.1', port: 7777 });
  });

  it('an unreadable file is a ConfigError naming it', async () => {
    const error = await settingsError(['--config', join(dir, 'missing.json')]);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe(`--config: cannot read "${join(dir, 'missing.json')}": ENOENT`);
  });
});

describe('process-wide limits and the listeners against each other', () => {
  it.each([
    [{ maxConnections: '-1' }, '--max-connections: "-1" is not a whole number (0 or more)'],
    [{ maxConnections: 'ten' }, '--max-connections: "ten" is not a whole number (0 or more)'],
    [{ maxConnections: 2.5 }, '--max-connections: "2.5" is not a whole number (0 or more)'],
    [{ maxSigtermDelay: 'soon' }, '--max-sigterm-delay: "soon" is not a number of seconds (0 or more)'],
    [{ maxSigtermDelay: 4000 }, '--max-sigterm-delay: "4000" is more than 3600 seconds (a DSQL connection lasts at most an hour)'],
    [{ httpListen: 'host:port' }, '--http-listen: '],
    [{ logLevel: 'loud' }, '--log-level: "loud" is not one of'],
  ])('refuses %j', (raw, message) => {
    expect(() => resolveServiceConfig(raw)).toThrow(message);
  });

  it('accepts fractions of a second for --max-sigterm-delay and a bare --http-listen port on loopback', () => {
    expect(resolveServiceConfig({ maxSigtermDelay: '0.5', httpListen: '9090' })).toMatchObject({ maxSigtermDelayMs: 500, httpListen: { host: '127.0.0.1', port: 9090 } });
  });

  const listener = (listen: string, extra: Record<string, unknown> = {}, connectRate = 100): { config: ProxyConfig; connectRate: number } => ({
    config: resolveConfig({ clusterId: ID, endpoint: VPCE, listen, ...extra }), connectRate,
  });

  it.each([
    [[listener('127.0.0.1:6432'), listener('127.0.0.1:6432')], '--listen: listeners 0 and 1 both listen on 127.0.0.1:6432'],
    [[listener('127.0.0.1:6432'), listener('127.0.0.2:6433'), listener('0.0.0.0:6432', { allowUnauthenticated: true })], 'listeners 0 and 2 both listen on 0.0.0.0:6432'],
    [[listener('127.0.0.1:6432'), listener('[::]:6432', { allowUnauthenticated: true })], 'listeners 0 and 1 both listen on [::]:6432'],
    [[listener('127.0.0.1:6432', { unixSocket: '/tmp/s', allowUnauthenticated: true }), listener('127.0.0.2:6432', { unixSocket: '/tmp/s', allowUnauthenticated: true })],
      '--unix-socket: listeners 0 and 1 would both create /tmp/s/.s.PGSQL.6432'],
    [[listener('127.0.0.1:6432', {}, 100), listener('127.0.0.1:6433', {}, 50)], '--max-connect-rate: listeners 0 and 1 serve cluster abcdefghijklmnopqrstuvwxyz in us-east-1'],
  ])('refuses listeners that would collide (%#)', (listeners, message) => {
    expect(() => checkListeners(listeners, undefined)).toThrow(message);
  });

  it('lets listeners share port 0, and different ports or hosts', () => {
    expect(() => checkListeners([listener('127.0.0.1:0'), listener('127.0.0.1:0'), listener('127.0.0.2:6432'), listener('127.0.0.1:6432')], undefined)).not.toThrow();
    expect(() => checkListeners([listener('127.0.0.1:6432'), listener('[::1]:6432')], undefined)).not.toThrow();
  });

  it('refuses an --http-listen on a listener\'s address', () => {
    expect(() => checkListeners([listener('127.0.0.1:6432')], { host: '127.0.0.1', port: 6432 }))
      .toThrow('--http-listen: 127.0.0.1:6432 is also where listener 0 accepts PostgreSQL clients');
  });
});
