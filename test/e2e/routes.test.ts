import { describe, expect, it } from 'vitest';
import type { RawOptions } from '../../src/config.js';
import { makeCa } from '../support/certs.js';
import { RawClient } from '../support/raw-client.js';
import { serializeStartupMessage } from '../../src/protocol/startup.js';
import {
  CLUSTER_HOSTNAME, CLUSTER_ID, REGION, VPCE_NAME, conninfo, connectError, expectNoSecrets, psql, useRig, startEmulator, startTestProxy,
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
  it('sni: dials the vpce name, sends the cluster name as SNI, verifies it, signs for it, and sends no cluster option', async () => {
    const { result, seen } = await connectThrough({ route: 'sni' });
    expect(result.stdout.trim(), result.stderr).toBe('1');
    expect(seen).toMatchObject({ sni: CLUSTER_HOSTNAME, tokenHostname: CLUSTER_HOSTNAME, clusterId: CLUSTER_ID });
    expect(seen.options).toBeUndefined();
  });

  it('sni with --inject-cluster-id adds the option as well', async () => {
    const { result, seen } = await connectThrough({ route: 'sni', injectClusterId: true });
    expect(result.stdout.trim(), result.stderr).toBe('1');
    expect(seen.options).toBe(`-c amzn-cluster-id=${CLUSTER_ID}`);
  });

  it('option: sends the vpce name as SNI, verifies the certificate for the cluster\'s DSQL name, identifies the cluster by option', async () => {
    const { result, seen } = await connectThrough({ route: 'option' });
    expect(result.stdout.trim(), result.stderr).toBe('1');
    expect(seen).toMatchObject({
      sni: VPCE_NAME, tokenHostname: `${CLUSTER_ID}.dsql.${REGION}.on.aws`, clusterId: CLUSTER_ID, options: `-c amzn-cluster-id=${CLUSTER_ID}`,
    });
  });

  it('a client\'s own amzn-cluster-id for this cluster is taken out: only the proxy names the cluster', async () => {
    const sni = await connectThrough({ route: 'sni' }, `-c amzn-cluster-id=${CLUSTER_ID} -c search_path=public`);
    expect(sni.result.stdout.trim(), sni.result.stderr).toBe('1');
    expect(sni.seen.options).toBe('-c search_path=public');
    const option = await connectThrough({ route: 'option' }, `--amzn_cluster_id=${CLUSTER_ID.toUpperCase()}`);
    expect(option.result.stdout.trim(), option.result.stderr).toBe('1');
    expect(option.seen.options).toBe(`-c amzn-cluster-id=${CLUSTER_ID}`);
  });

  it('option with --no-inject-cluster-id: the endpoint\'s FATAL reaches the client unchanged', async () => {
    const { result, seen } = await connectThrough({ route: 'option', injectClusterId: false });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('FATAL:  unable to accept connection, no cluster id in SNI or amzn-cluster-id option');
    expect(seen.rejection).toMatch(/no cluster id/);
  });

  it('a client naming another cluster is refused by the proxy before anything is dialed, in any spelling', async () => {
    const spellings = ['-c amzn-cluster-id=zzzzzzzzzzzzzzzzzzzzzzzzzz', '-ec amzn_cluster_id=zzzzzzzzzzzzzzzzzzzzzzzzzz'];
    for (const [route, options] of [['sni', spellings[0]], ['option', spellings[0]], ['sni', spellings[1]]] as const) {
      const before = rig.emulator.records.length;
      const { result } = await connectThrough({ route }, options);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain(`FATAL:  this dsql-proxy serves cluster ${CLUSTER_ID}, but the client's options name cluster "zzzzzzzzzzzzzzzzzzzzzzzzzz"`);
      expect(result.stderr).toContain('HINT:  Remove amzn-cluster-id');
      expect(rig.emulator.records.length).toBe(before);
    }
  });

  it('a startup parameter named amzn-cluster-id (not in options) is taken out too', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca);
    try {
      const client = await RawClient.connect(proxy.port);
      client.send(serializeStartupMessage(196608, [['user', 'admin'], ['database', 'postgres'], ['AMZN_CLUSTER_ID', CLUSTER_ID]]));
      const frames = await client.until('Z'); // the emulator refuses any cluster id in a form it does not expect
      expect(frames[0]![0]).toBe(0x52);
      client.socket.destroy();
    } finally {
      await proxy.proxy.close();
    }
  });

  it('option: a trusted certificate for another name fails before the token is sent', async () => {
    const impostor = await startEmulator({ certNames: ['*.example.com'] });
    try {
      const proxy = await startTestProxy(impostor.emulator.port, impostor.ca, { endpoint: `${VPCE_NAME}:${impostor.emulator.port}`, region: undefined, serviceIdentifier: undefined, route: 'option' }, { resolve: resolveToLoopback });
      const error = await connectError(proxy.port);
      await proxy.proxy.close();
      expect(error.code).toBe('08001');
      expect(error.message).toContain('*.example.com');
      expect(error.message).toContain(`${CLUSTER_ID}.dsql.${REGION}.on.aws`);
      expect(impostor.emulator.records.every((r) => r.user === undefined && !r.authenticated)).toBe(true);
    } finally {
      await impostor.emulator.stop();
    }
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
