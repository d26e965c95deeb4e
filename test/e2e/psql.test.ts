import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DsqlEmulator } from '../support/emulator.js';
import type { TestCa } from '../support/certs.js';
import {
  CLUSTER_HOSTNAME, CLUSTER_ID, expectNoSecrets, psql, startEmulator, startTestProxy, type TestProxy,
} from '../support/harness.js';

let emulator: DsqlEmulator;
let ca: TestCa;
let proxy: TestProxy;

beforeAll(async () => {
  ({ emulator, ca } = await startEmulator());
  proxy = await startTestProxy(emulator.port, ca);
});
afterAll(async () => {
  await proxy?.proxy.close();
  await emulator?.stop();
  expectNoSecrets(proxy.logs.text);
});

describe('psql through the proxy', () => {
  it('runs select 1 with no password, no PGOPTIONS and no DNS', async () => {
    const before = emulator.records.length;
    const result = await psql(proxy.port, ['-At', '-c', 'select 1']);
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('1');
    const seen = emulator.records.slice(before).find((r) => r.kind === 'startup')!;
    expect(seen).toMatchObject({
      sni: CLUSTER_HOSTNAME,
      clusterId: CLUSTER_ID,
      user: 'admin',
      action: 'DbConnectAdmin',
      tokenHostname: CLUSTER_HOSTNAME,
      authenticated: true,
      options: `-c amzn-cluster-id=${CLUSTER_ID}`,
    });
  });
});
