import { describe, expect, it } from 'vitest';
import {
  CLUSTER_ID, REGION, SERVICE_ID, clientEnv, expectNoSecrets, psql, runTool, spawnProxy, useRig, TEST_CREDENTIALS,
} from '../support/harness.js';
import { freePort } from '../support/postgres.js';
import { issueServerCert } from '../support/certs.js';
import { RawClient } from '../support/raw-client.js';
import { FakeEndpoint } from '../upstream/fake-endpoint.js';
import { serializeStartupMessage } from '../../src/protocol/startup.js';

const rig = useRig({ proxy: false });

const credentialEnv = { AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey };

const serveArgs = (): string[] => [
  '--cluster-id', CLUSTER_ID, '--endpoint', `127.0.0.1:${rig.emulator.port}`, '--region', REGION,
  '--service-identifier', SERVICE_ID, '--ca-file', rig.ca.certFile,
];

describe('the dsql-proxy command', () => {
  it('serves psql with credentials from the environment, logs JSON lines without secrets at trace level, stops on SIGTERM', async () => {
    const proxy = await spawnProxy(serveArgs(), {
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    });
    const result = await psql(proxy.port, ['-At', '-c', 'select 7']);
    expect(result.stdout.trim(), result.stderr).toBe('7');
    await new Promise((r) => setTimeout(r, 100));
    expect(await proxy.stop('SIGTERM')).toBe(0);
    const lines = proxy.stderr().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({
      msg: 'dsql-proxy listening', route: 'sni', cluster: CLUSTER_ID, region: REGION,
      certificateNames: [`${CLUSTER_ID}.${SERVICE_ID}.${REGION}.on.aws`], endpoint: `127.0.0.1:${rig.emulator.port}`,
    });
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['client connected', 'connection closed', 'stopping']));
    expect(lines.find((l) => l.msg === 'connection closed')).toMatchObject({ user: 'admin', outcome: 'relayed' });
    expectNoSecrets(proxy.stderr());
  });

  it('SIGTERM while a login hangs upstream: exits 0 at once and closes the upstream connection', async () => {
    // An endpoint that completes TLS, then never answers the StartupMessage.
    const hung = new FakeEndpoint(issueServerCert(rig.ca, [`*.${SERVICE_ID}.${REGION}.on.aws`]), { negotiation: 'direct', alpn: true });
    await hung.start();
    try {
      const proxy = await spawnProxy(['--cluster-id', CLUSTER_ID, '--endpoint', `127.0.0.1:${hung.port}`, '--region', REGION,
        '--service-identifier', SERVICE_ID, '--ca-file', rig.ca.certFile, '--connect-timeout', '60'], credentialEnv);
      const client = await RawClient.connect(proxy.port);
      client.send(serializeStartupMessage(196608, [['user', 'admin'], ['database', 'postgres']]));
      for (let i = 0; i < 200 && !hung.connections.some((c) => c.applicationBytes > 0); i++) await new Promise((r) => setTimeout(r, 10));
      expect(hung.connections.some((c) => c.applicationBytes > 0)).toBe(true);
      const started = Date.now();
      expect(await proxy.stop('SIGTERM')).toBe(0);
      expect(Date.now() - started).toBeLessThan(2_000);
      await hung.allClosed();
      await client.closed;
    } finally {
      await hung.stop();
    }
  });

  it('with no resolvable credentials answers 28000 with the hint and stays up', async () => {
    const proxy = await spawnProxy(serveArgs(), {});
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const result = await psql(proxy.port, ['-c', 'select 1']);
        expect(result.status).not.toBe(0);
        expect(result.stderr).toContain('FATAL:  dsql-proxy could not sign an IAM token: AWS credentials could not be resolved');
        expect(result.stderr).toContain('aws sso login');
      }
      expect(proxy.child.exitCode).toBeNull();
      expectNoSecrets(proxy.stderr());
    } finally {
      await proxy.stop();
    }
  });

  it('prints help with examples and the version', async () => {
    const help = await runTool(process.execPath, ['bin/dsql-proxy.js', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--cluster-id');
    expect(help.stdout).toContain('Examples:');
    const version = await runTool(process.execPath, ['bin/dsql-proxy.js', '--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it.each([
    [['--cluster-id', CLUSTER_ID, '--endpoint', 'x', '--bogus'], /Unknown argument: bogus/],
    [['--cluster-id', CLUSTER_ID], /--endpoint: required/],
    [['--cluster-id', CLUSTER_ID, '--endpoint', '10.0.0.1', '--route', 'option'], /--route: option needs the endpoint's DNS name .* use --route sni, or give the endpoint's DNS name/],
    [['--cluster-id', CLUSTER_ID, '--endpoint', '10.0.0.1', '--route', 'option', '--region', REGION], /--route: .*DSQL refuses connections without SNI/],
    [['--cluster-id', CLUSTER_ID, '--endpoint', 'https://vpce-0abc-def.dsql-fnh4.us-east-1.vpce.amazonaws.com'], /--endpoint: give a host name or IP, not a URL: drop "https:\/\/"/],
    [['--cluster-id', CLUSTER_ID, '--endpoint', 'x', '--region', REGION, '--service-identifier', SERVICE_ID, '--connect-timeout', 'abc'], /--connect-timeout: "abc" is not a number\n/],
    [['--cluster-id', CLUSTER_ID, '--endpoint', 'x', '--profle', 'dev'], /Unknown argument: profle\nDid you mean --profile \(not --profle\)\?/],
    [['clsuters', '--region', REGION], /Did you mean the command "clusters"\?/],
    [['--cluster-id', CLUSTER_ID, '--endpoint', 'x', '--route', 'dns'], /Argument: route, Given: "dns"/],
    [['--cluster-id', CLUSTER_ID, '--endpoint', 'x', '--check=1'], /^dsql-proxy: --check: "1" is not true or false$/m],
    [['--cluster-id', CLUSTER_ID, '--endpoint', 'x', '--inject-cluster-id=yes'], /--inject-cluster-id: "yes" is not true or false/],
    [['--cluster-id', CLUSTER_ID, '--endpoint', '127.0.0.1:1', '--region', REGION, '--ca-file', '/nonexistent/ca.pem', '--check'],
      /--ca-file: cannot use "\/nonexistent\/ca.pem"/],
  ])('exits 2 on bad flags %j, naming the flag', async (args, message) => {
    const result = await runTool(process.execPath, ['bin/dsql-proxy.js', ...args]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('exits 2 on a boolean variable spelt other than true or false, instead of reading it as false', async () => {
    const result = await runTool(process.execPath, ['bin/dsql-proxy.js', '--cluster-id', CLUSTER_ID, '--endpoint', 'x'],
      { env: clientEnv({ DSQL_PROXY_CHECK: '1' }) });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('DSQL_PROXY_CHECK: "1" is not true or false');
  });

  it('exits 1 when the listen address is taken, hinting at another port', async () => {
    const first = await spawnProxy(serveArgs(), {});
    try {
      const second = await runTool(process.execPath, ['bin/dsql-proxy.js', ...serveArgs(), '--listen', `127.0.0.1:${first.port}`]);
      expect(second.status).toBe(1);
      expect(second.stderr).toMatch(/cannot start: .*EADDRINUSE/);
      expect(second.stderr).toContain(`Another program already listens on 127.0.0.1:${first.port} (often a local PostgreSQL): use another port, e.g. --listen 127.0.0.1:6432`);
    } finally {
      await first.stop();
    }
  });

  it('listens on 127.0.0.1 at a bare --listen port', async () => {
    const port = await freePort();
    const proxy = await spawnProxy([...serveArgs(), '--listen', String(port)], credentialEnv);
    try {
      expect(proxy.port).toBe(port);
      const result = await psql(port, ['-At', '-c', 'select 3']);
      expect(result.stdout.trim(), result.stderr).toBe('3');
    } finally {
      await proxy.stop();
    }
  });
});

describe('a command line with a usage error runs nothing', () => {
  it('token with both --admin and --user prints no token', async () => {
    const result = await runTool(process.execPath, ['bin/dsql-proxy.js', 'token', '--admin', '--user', 'x', '--cluster-id', CLUSTER_ID, '--region', REGION],
      { env: clientEnv(credentialEnv) });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/Arguments admin and user are mutually exclusive/);
  });

  it('serve with a mistyped flag exits 2 without listening, naming the flag it meant', async () => {
    const port = await freePort();
    const result = await runTool(process.execPath, ['bin/dsql-proxy.js', ...serveArgs(), '--listen', '127.0.0.1:0', '--lsiten', `127.0.0.1:${port}`, '--log-level', 'info'],
      { env: clientEnv(credentialEnv), timeoutMs: 10_000 });
    expect(result.status).toBe(2);
    expect(result.stderr).not.toContain('listening');
    expect(result.stderr).toMatch(/Unknown argument: lsiten\nDid you mean --listen \(not --lsiten\)\?/);
  });
});
