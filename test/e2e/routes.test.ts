import { describe, expect, it } from 'vitest';
import type { RawOptions } from '../../src/config.js';
import { makeCa } from '../support/certs.js';
import {
  CLUSTER_HOSTNAME, CLUSTER_ID, REGION, VPCE_NAME, conninfo, connectError, expectNoSecrets, psql, useRig, startTestProxy,
} from '../support/harness.js';

const rig = useRig({ proxy: false });

/** The vpce name resolves to the emulator, as it would inside the VPC. */
const resolveToLoopback = async (): Promise<string[]> => ['127.0.0.1'];

async function connectThrough(raw: Partial<RawOptions>, clientOptions?: string) {
  const proxy = await startTestProxy(rig.emulator.port, rig.ca, { endpoint: `${VPCE_NAME}:${rig.emulator.port}`, region: undefined, serviceIdentifier: undefined, ...raw }, { resolve: resolveToLoopback });
  const before = rig.emulator.records.length;
  const result = await psql(proxy.port, ['-At', '-c', 'select 1'],
    clientOptions === undefined ? {} : { conninfo: `${conninfo(proxy.port)} options='${clientOptions}'` });
  await proxy.proxy.close();
  expectNoSecrets(proxy.logs.text);
  return { result, seen: rig.emulator.records.slice(before).find((r) => r.kind === 'startup')!, proxy };
}

describe('routes', () => {
  it('sni: dials the vpce name, sends the cluster name as SNI, verifies it, signs for it', async () => {
    const { result, seen } = await connectThrough({ route: 'sni' });
    expect(result.stdout.trim(), result.stderr).toBe('1');
    expect(seen).toMatchObject({ sni: CLUSTER_HOSTNAME, tokenHostname: CLUSTER_HOSTNAME, clusterId: CLUSTER_ID, options: `-c amzn-cluster-id=${CLUSTER_ID}` });
  });

  it('option: sends the vpce name as SNI, verifies only the chain, identifies the cluster by option', async () => {
    const { result, seen } = await connectThrough({ route: 'option' });
    expect(result.stdout.trim(), result.stderr).toBe('1');
    expect(seen).toMatchObject({
      sni: VPCE_NAME, tokenHostname: `${CLUSTER_ID}.dsql.${REGION}.on.aws`, clusterId: CLUSTER_ID, options: `-c amzn-cluster-id=${CLUSTER_ID}`,
    });
  });

  it('sni with --no-inject-cluster-id leaves the client options alone and still reaches the cluster by SNI', async () => {
    const { result, seen } = await connectThrough({ route: 'sni', injectClusterId: false });
    expect(result.stdout.trim(), result.stderr).toBe('1');
    expect(seen.options).toBeUndefined();
    expect(seen.clusterId).toBe(CLUSTER_ID);
  });

  it('option with --no-inject-cluster-id: the endpoint\'s FATAL reaches the client unchanged', async () => {
    const { result, seen } = await connectThrough({ route: 'option', injectClusterId: false });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('FATAL:  unable to accept connection, no cluster id in SNI or amzn-cluster-id option');
    expect(seen.rejection).toMatch(/no cluster id/);
  });

  it('a client naming another cluster than the SNI gets the endpoint\'s conflict error', async () => {
    const { result, seen } = await connectThrough({ route: 'sni', injectClusterId: false }, '-c amzn-cluster-id=zzzzzzzzzzzzzzzzzzzzzzzzzz');
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`FATAL:  cluster id in options (zzzzzzzzzzzzzzzzzzzzzzzzzz) does not match the one in SNI (${CLUSTER_ID})`);
    expect(seen.clusterId).toBeUndefined();
  });

  it('--token-hostname overrides the token hostname', async () => {
    const other = `${CLUSTER_ID}.dsql.${REGION}.on.aws`;
    const { result, seen } = await connectThrough({ route: 'sni', tokenHostname: other });
    expect(result.stdout.trim(), result.stderr).toBe('1');
    expect(seen.tokenHostname).toBe(other);
  });

  it('option: the vpce name is not in the certificate, yet a certificate from an untrusted CA still fails', async () => {
    const proxy = await startTestProxy(rig.emulator.port, makeCa('another CA'), { endpoint: `${VPCE_NAME}:${rig.emulator.port}`, region: undefined, serviceIdentifier: undefined, route: 'option' }, { resolve: resolveToLoopback });
    const error = await connectError(proxy.port);
    await proxy.proxy.close();
    expect(error.code).toBe('08001');
    expect(error.message).toMatch(/TLS with .* failed/);
    expect(error.hint).toMatch(/--ca-file/);
  });
});
