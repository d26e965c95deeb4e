import { describe, expect, it } from 'vitest';
import {
  CLUSTER_ID, REGION, SERVICE_ID, expectNoSecrets, psql, runTool, spawnProxy, useRig, TEST_CREDENTIALS,
} from '../support/harness.js';

const rig = useRig({ proxy: false });

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
    [['--cluster-id', CLUSTER_ID, '--endpoint', '10.0.0.1', '--route', 'option'], /--region: required/],
    [['--cluster-id', CLUSTER_ID, '--endpoint', 'x', '--route', 'dns'], /Argument: route, Given: "dns"/],
  ])('exits 2 on bad flags %j, naming the flag', async (args, message) => {
    const result = await runTool(process.execPath, ['bin/dsql-proxy.js', ...args]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('exits 1 when the listen address is taken', async () => {
    const first = await spawnProxy(serveArgs(), {});
    try {
      const second = await runTool(process.execPath, ['bin/dsql-proxy.js', ...serveArgs(), '--listen', `127.0.0.1:${first.port}`]);
      expect(second.status).toBe(1);
      expect(second.stderr).toMatch(/cannot start: .*EADDRINUSE/);
    } finally {
      await first.stop();
    }
  });
});
