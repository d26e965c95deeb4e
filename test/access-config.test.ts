import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseServeOptions } from '../src/cli.js';
import { ConfigError, resolveConfig, type ProxyConfig } from '../src/config.js';

const BASE = ['--cluster-id', 'abcdefghijklmnopqrstuvwxyz', '--endpoint', 'vpce-0123456789abcdef0-abcdefgh.dsql-fnh4.us-east-1.vpce.amazonaws.com'];

async function configFrom(argv: string[], env: Record<string, string> = {}): Promise<ProxyConfig> {
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  return resolveConfig(await parseServeOptions([...BASE, ...argv]));
}

async function errorFrom(argv: string[]): Promise<ConfigError> {
  const error = await configFrom(argv).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

afterEach(() => { vi.unstubAllEnvs(); });

describe('who may connect: validation before anything listens', () => {
  it.each([
    [['--listen', '0.0.0.0:6432'], '--listen', /0\.0\.0\.0:6432 is reachable beyond this host.*--auth-file FILE.*--tls-client-ca FILE.*--allow-unauthenticated/],
    [['--listen', '[::]:6432'], '--listen', /\[::\]:6432 is reachable beyond this host/],
    [['--listen', '10.1.2.3:5432'], '--listen', /reachable beyond this host/],
    [['--unix-socket', '/tmp'], '--unix-socket', /--unix-socket \/tmp is open to other local users.*--allow-unauthenticated/],
    [['--tls-cert', 'server.crt'], '--tls-key', /required with --tls-cert/],
    [['--tls-key', 'server.key'], '--tls-cert', /required with --tls-key/],
    [['--tls-client-ca', 'ca.crt'], '--tls-client-ca', /needs --tls-cert and --tls-key/],
    [['--require-tls'], '--require-tls', /needs --tls-cert and --tls-key/],
    [['--allow-cidr', '10.0.0.0/33'], '--allow-cidr', /prefix length must be 0 to 32/],
    [['--allow-cidr', 'office'], '--allow-cidr', /"office" is not a CIDR block/],
    [['--allow-cidr', ' , '], '--allow-cidr', /at least one block/],
    [['--allow-roles', ''], '--allow-roles', /at least one role/],
    [['--allow-roles', 'app reader'], '--allow-roles', /"app reader" is not a role name/],
    [['--unix-socket', '/tmp', '--allow-unauthenticated', '--unix-socket-mode', '0400'], '--unix-socket-mode', /keep 06 in the owner digit/],
    [['--unix-socket', '/tmp', '--allow-unauthenticated', '--unix-socket-mode', '0999'], '--unix-socket-mode', /not an octal file mode/],
    [['--unix-socket-mode', '0660'], '--unix-socket-mode', /only means something with --unix-socket/],
    [['--unix-socket', `/tmp/${'d'.repeat(100)}`, '--allow-unauthenticated'], '--unix-socket', /longer than the 107 bytes/],
    [['--unix-socket', '/tmp', '--tls-cert', 'c', '--tls-key', 'k', '--tls-client-ca', 'ca'], '--unix-socket', /cannot present the certificate .* add --auth-file/],
  ])('refuses %j (%s)', async (argv, flag, message) => {
    const error = await errorFrom(argv);
    expect(error.flag).toBe(flag);
    expect(error.message).toMatch(message);
  });

  it('lets a non-loopback listener serve when clients authenticate, or when told they need not', async () => {
    expect((await configFrom(['--listen', '0.0.0.0:6432', '--auth-file', 'users.txt'])).access.authFile).toBe('users.txt');
    const certified = await configFrom(['--listen', '0.0.0.0:6432', '--tls-cert', 'c', '--tls-key', 'k', '--tls-client-ca', 'ca']);
    expect(certified.access).toMatchObject({ tls: { certFile: 'c', keyFile: 'k', clientCaFile: 'ca' }, requireTls: true });
    expect((await configFrom([], { DSQL_PROXY_LISTEN: '0.0.0.0:5432', DSQL_PROXY_ALLOW_UNAUTHENTICATED: 'true' })).access.allowUnauthenticated).toBe(true);
  });

  it('parses allow-lists and the socket settings', async () => {
    const config = await configFrom(['--allow-roles', 'app_reader, app_writer', '--allow-cidr', '10.0.0.0/8, 2001:db8::/32,192.0.2.7',
      '--unix-socket', '/run/dsql', '--unix-socket-mode', '660', '--auth-file', 'u']);
    expect(config.access).toMatchObject({
      allowRoles: ['app_reader', 'app_writer'],
      allowCidr: [{ address: '10.0.0.0', prefix: 8, family: 'ipv4' }, { address: '2001:db8::', prefix: 32, family: 'ipv6' },
        { address: '192.0.2.7', prefix: 32, family: 'ipv4' }],
      unixSocket: { dir: '/run/dsql', mode: 0o660 },
    });
  });
});
