import { describe, expect, it } from 'vitest';
import { CLUSTER_ID, REGION, SERVICE_ID, psql, runTool, spawnProxy, useRig, TEST_CREDENTIALS } from '../support/harness.js';

const rig = useRig({ proxy: false });
const credentialEnv = { AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey };
const serveArgs = (): string[] => [
  '--cluster-id', CLUSTER_ID, '--endpoint', `127.0.0.1:${rig.emulator.port}`, '--region', REGION,
  '--service-identifier', SERVICE_ID, '--ca-file', rig.ca.certFile,
];

describe('dsql-proxy as a bastion: the command line', () => {
  it('exits 2 without listening when a non-loopback --listen has no client authentication, naming the ways out', async () => {
    const result = await runTool(process.execPath, ['bin/dsql-proxy.js', ...serveArgs(), '--listen', '0.0.0.0:0']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--listen 0\.0\.0\.0:0 is reachable beyond this host/);
    expect(result.stderr).toMatch(/--auth-file FILE .*--tls-client-ca FILE .*--allow-unauthenticated/s);
    expect(result.stderr).not.toContain('dsql-proxy listening');
  });

  it('with --allow-unauthenticated serves a non-loopback listener and warns at start', async () => {
    const proxy = await spawnProxy([...serveArgs(), '--listen', '0.0.0.0:0', '--allow-unauthenticated'], credentialEnv);
    try {
      const result = await psql(proxy.port, ['-At', '-c', 'select 3']);
      expect(result.stdout.trim(), result.stderr).toBe('3');
      const warning = proxy.stderr().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => typeof l.msg === 'string' && l.msg.startsWith('--allow-unauthenticated'));
      expect(warning).toMatchObject({ level: 40, listen: '0.0.0.0' });
    } finally {
      await proxy.stop();
    }
  });

  it('exits 2 on a --tls-cert that cannot be read, before anything listens or signs', async () => {
    const result = await runTool(process.execPath, ['bin/dsql-proxy.js', ...serveArgs(), '--tls-cert', '/nonexistent/server.crt', '--tls-key', '/nonexistent/server.key']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--tls-cert: cannot read "/nonexistent/server.crt": ENOENT');
  });

  it('groups the bastion flags in --help', async () => {
    const help = await runTool(process.execPath, ['bin/dsql-proxy.js', '--help']);
    expect(help.stdout).toMatch(/Client authentication:\n\s+--auth-file[\s\S]*--allow-roles[\s\S]*--allow-cidr[\s\S]*--allow-unauthenticated/);
    expect(help.stdout).toMatch(/Local TLS:\n\s+--tls-cert[\s\S]*--tls-key[\s\S]*--tls-client-ca[\s\S]*--require-tls/);
    expect(help.stdout).toContain('--unix-socket');
  });
});
