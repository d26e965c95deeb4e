import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManagementApi, ManagementError } from '../../src/aws/management.js';
import { freePort } from '../support/postgres.js';
import { TEST_CREDENTIALS } from '../support/harness.js';
import { ManagementFake } from '../support/management-fake.js';

const ids = ['aaaaaaaaaaaaaaaaaaaaaaaaa1', 'aaaaaaaaaaaaaaaaaaaaaaaaa2', 'aaaaaaaaaaaaaaaaaaaaaaaaa3', 'aaaaaaaaaaaaaaaaaaaaaaaaa4', 'aaaaaaaaaaaaaaaaaaaaaaaaa5'];
const fake = new ManagementFake({
  'us-east-1': ids.map((identifier, i) => ({ identifier, status: i === 4 ? 'CREATING' : 'ACTIVE', serviceIdentifier: 'dsql-fnh4' })),
});
const credentials = async () => ({ ...TEST_CREDENTIALS });

beforeAll(async () => { await fake.start(); });
afterAll(async () => { await fake.stop(); });

describe('management API through @aws-sdk/client-dsql', () => {
  const api = () => createManagementApi({ region: 'us-east-1', endpointUrl: fake.url, credentials });

  it('follows every ListClusters page', async () => {
    const before = fake.requests.length;
    const clusters = await api().listClusters();
    expect(clusters.map((c) => c.identifier)).toEqual(ids);
    expect(clusters[0]!.arn).toBe(`arn:aws:dsql:us-east-1:123456789012:cluster/${ids[0]}`);
    const calls = fake.requests.slice(before);
    expect(calls).toHaveLength(3);
    expect(calls.every((r) => r.service === 'dsql' && r.region === 'us-east-1')).toBe(true);
  });

  it('reads a cluster and its endpoint service name', async () => {
    const cluster = await api().getCluster(ids[4]!);
    expect(cluster).toMatchObject({ identifier: ids[4], status: 'CREATING', deletionProtectionEnabled: true });
    expect(cluster.creationTime).toEqual(new Date(1_767_225_600_000));
    expect(await api().getServiceName(ids[0]!)).toEqual({ serviceName: 'com.amazonaws.us-east-1.dsql-fnh4', serviceIdentifier: 'dsql-fnh4', clusterVpcEndpoint: undefined });
  });

  it('sorts failures into not-found (wrong id or region) and unreachable, each with a hint', async () => {
    const notFound = await api().getCluster('zzzzzzzzzzzzzzzzzzzzzzzzzz').catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(ManagementError);
    expect(notFound).toMatchObject({ kind: 'not-found' });
    const otherRegion = await createManagementApi({ region: 'eu-west-1', endpointUrl: fake.url, credentials }).getCluster(ids[0]!).catch((e: unknown) => e);
    expect(otherRegion).toMatchObject({ kind: 'not-found', message: expect.stringMatching(/not found in eu-west-1/) });
    const down = await createManagementApi({ region: 'us-east-1', endpointUrl: `http://127.0.0.1:${await freePort()}`, credentials, timeoutMs: 2000 })
      .getCluster(ids[0]!).catch((e: unknown) => e);
    expect(down).toMatchObject({ kind: 'unreachable', hint: expect.stringMatching(/--endpoint-url/) });
  });
});
