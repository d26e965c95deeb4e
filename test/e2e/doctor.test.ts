import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawOptions } from '../../src/config.js';
import { runDoctor, type CheckResult, type DoctorDeps } from '../../src/doctor/doctor.js';
import { renderReport } from '../../src/doctor/report.js';
import {
  CLUSTER_ID, REGION, SERVICE_ID, TEST_CREDENTIALS, VPCE_NAME, clientEnv, expectNoSecrets, runTool, startEmulator, useRig,
} from '../support/harness.js';
import { ManagementFake } from '../support/management-fake.js';
import { freePort } from '../support/postgres.js';

const rig = useRig({ proxy: false });
const fake = new ManagementFake({ [REGION]: [{ identifier: CLUSTER_ID, serviceIdentifier: SERVICE_ID }] });
beforeAll(async () => { await fake.start(); });
afterAll(async () => { await fake.stop(); });

const credentials = async () => ({ ...TEST_CREDENTIALS });
const loopback = async (): Promise<string[]> => ['127.0.0.1'];

function raw(overrides: Partial<RawOptions> = {}): RawOptions {
  return {
    clusterId: CLUSTER_ID, endpoint: `${VPCE_NAME}:${rig.emulator.port}`, caFile: rig.ca.certFile,
    endpointUrl: fake.url, connectTimeout: 1, ...overrides,
  };
}

async function doctor(overrides: Partial<RawOptions> = {}, deps: DoctorDeps = {}, role: { user?: string; database?: string } = {}): Promise<CheckResult[]> {
  const results = await runDoctor({ raw: raw(overrides), user: 'admin', database: 'postgres', ...role, scope: 'all' }, { credentials, resolve: loopback, ...deps });
  expectNoSecrets(JSON.stringify(results));
  return results;
}

/** Runs `body` against a fake of its own, set up by `setup`, and stops it after. */
async function withFake(setup: (fake: ManagementFake) => void, body: (url: string) => Promise<void>): Promise<void> {
  const own = new ManagementFake({ [REGION]: [{ identifier: CLUSTER_ID, serviceIdentifier: SERVICE_ID }] });
  setup(own);
  try {
    await body(await own.start());
  } finally {
    await own.stop();
  }
}

const failed = (results: CheckResult[]): string[] => results.filter((r) => r.status === 'fail').map((r) => r.id);
const byId = (results: CheckResult[], id: string): CheckResult => results.find((r) => r.id === id)!;

describe('dsql-proxy doctor', () => {
  it('passes every check for a good setup and says which routes work', async () => {
    const results = await doctor();
    expect(results.map((r) => [r.id, r.status])).toEqual([
      ['config', 'pass'], ['credentials', 'pass'], ['dns', 'pass'], ['tcp', 'pass'], ['tls', 'pass'], ['cert-sni', 'pass'],
      ['cert-option', 'pass'], ['management', 'pass'], ['service-identifier', 'pass'], ['cluster-status', 'pass'], ['login', 'pass'],
    ]);
    expect(byId(results, 'credentials').value).toBe('resolved from the default credential chain');
    expect(byId(results, 'dns').value).toBe(`${VPCE_NAME} → 127.0.0.1`);
    expect(byId(results, 'tls').value).toMatch(new RegExp(`; certificate for \\*\\.${SERVICE_ID}\\.${REGION}\\.on\\.aws, \\*\\.dsql\\.${REGION}\\.on\\.aws, valid to `));
    expect(byId(results, 'cert-sni').value).toBe(`valid for ${CLUSTER_ID}.${SERVICE_ID}.${REGION}.on.aws, chain trusted: route sni works`);
    expect(byId(results, 'cert-option').value).toBe(`valid for ${CLUSTER_ID}.${SERVICE_ID}.${REGION}.on.aws, chain trusted: route option works`);
    expect(byId(results, 'service-identifier').value).toBe(`com.amazonaws.${REGION}.${SERVICE_ID}`);
    expect(byId(results, 'cluster-status').value).toMatch(/^ACTIVE/);
    expect(byId(results, 'login').value).toMatch(/^as admin: connected and authenticated in [\d.]+ ms, select 1 → 1 in [\d.]+ ms$/);
  });

  it('a closed port: only TCP fails, with the security-group remedy for timeouts or the port remedy for refusals', async () => {
    const results = await doctor({ endpoint: `${VPCE_NAME}:${await freePort()}` });
    expect(failed(results)).toEqual(['tcp']);
    expect(byId(results, 'tcp').value).toMatch(/127\.0\.0\.1:\d+ ECONNREFUSED/);
    expect(byId(results, 'login').status).toBe('skip');
  });

  it.each([
    ['postgres', /SSL request got no answer/, /not answering like DSQL/],
    ['direct', /TLS handshake did not complete/, /not answering like DSQL.*--ssl-negotiation postgres/],
  ] as const)('an endpoint that accepts but never answers (--ssl-negotiation %s): TLS fails within the timeout, certificates and login are skipped', async (sslNegotiation, value, remedy) => {
    const held: Socket[] = [];
    const silent: Server = createServer((s) => { held.push(s); });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const results = await doctor({ endpoint: `${VPCE_NAME}:${(silent.address() as { port: number }).port}`, sslNegotiation });
      expect(failed(results)).toEqual(['tls']);
      expect(byId(results, 'tls').value).toMatch(value);
      expect(byId(results, 'tls').remedy).toMatch(remedy);
      expect(['cert-sni', 'cert-option', 'login'].map((id) => byId(results, id).status)).toEqual(['skip', 'skip', 'skip']);
    } finally {
      for (const s of held) s.destroy();
      silent.close();
    }
  });

  it('an unresolvable name: only DNS fails, with the private DNS remedy', async () => {
    const results = await doctor({}, { resolve: async () => { throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }); } });
    expect(failed(results)).toEqual(['dns']);
    expect(byId(results, 'dns').remedy).toMatch(/Route 53 Resolver/);
  });

  it('a trusted certificate for another name: the option route fails on the name like the sni route, naming the names it carries and the ones expected', async () => {
    const impostor = await startEmulator({ certNames: ['db.example.com'] });
    try {
      const results = await doctor({ endpoint: `${VPCE_NAME}:${impostor.emulator.port}`, caFile: impostor.ca.certFile, route: 'option' });
      expect(failed(results)).toEqual(['cert-option', 'login']);
      // The route not in use cannot break serving: a warning, judged by the same rule.
      expect(byId(results, 'cert-sni').status).toBe('warn');
      expect(byId(results, 'cert-sni').remedy).toMatch(/^Matters only with --route sni\. /);
      expect(byId(results, 'tls').value).toContain('certificate for db.example.com, valid to');
      expect(byId(results, 'cert-sni').value).toBe(`the certificate is valid for db.example.com, not for ${CLUSTER_ID}.${SERVICE_ID}.${REGION}.on.aws`);
      expect(byId(results, 'cert-option').value)
        .toBe(`the certificate is valid for db.example.com, not for ${CLUSTER_ID}.${SERVICE_ID}.${REGION}.on.aws or ${CLUSTER_ID}.dsql.${REGION}.on.aws`);
      expect(byId(results, 'cert-option').remedy).toMatch(/not present a certificate of this cluster/);
      expect(byId(results, 'cert-option').remedy).not.toContain('--certificate-name');
      expect(byId(results, 'login').value).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
      expect(impostor.emulator.records.some((r) => r.kind === 'startup')).toBe(false);
    } finally {
      await impostor.emulator.stop();
    }
  });

  it('a certificate for another service of the region: neither route accepts it and no --certificate-name is suggested', async () => {
    const other = await startEmulator({ certNames: [`*.dsql-other.${REGION}.on.aws`] });
    try {
      const results = await doctor({ endpoint: `${VPCE_NAME}:${other.emulator.port}`, caFile: other.ca.certFile });
      expect(failed(results)).toEqual(['cert-sni', 'login']);
      expect(byId(results, 'cert-option').status).toBe('warn');
      expect(byId(results, 'cert-option').value).toContain(`valid for *.dsql-other.${REGION}.on.aws, not for`);
      expect(byId(results, 'cert-sni').value).toContain(`valid for *.dsql-other.${REGION}.on.aws, not for`);
      expect(byId(results, 'cert-sni').remedy).toMatch(/--cluster-id, --region and --service-identifier/);
      expect(byId(results, 'cert-sni').remedy).not.toContain('--certificate-name');
    } finally {
      await other.emulator.stop();
    }
  });

  it('a certificate with only the cluster\'s public DSQL name: route sni fails, suggesting --certificate-name with that name and the option route, which works', async () => {
    const publicOnly = await startEmulator({ certNames: [`*.dsql.${REGION}.on.aws`] });
    const publicName = `${CLUSTER_ID}.dsql.${REGION}.on.aws`;
    try {
      const overrides = { endpoint: `${VPCE_NAME}:${publicOnly.emulator.port}`, caFile: publicOnly.ca.certFile };
      const results = await doctor(overrides);
      expect(failed(results)).toEqual(['cert-sni', 'login']);
      expect(byId(results, 'cert-sni').value).toBe(`the certificate is valid for *.dsql.${REGION}.on.aws, not for ${CLUSTER_ID}.${SERVICE_ID}.${REGION}.on.aws`);
      expect(byId(results, 'cert-sni').remedy).toContain(`pass --certificate-name ${publicName}.`);
      expect(byId(results, 'cert-sni').remedy).toContain('Or use --route option, which works with this certificate.');
      expect(byId(results, 'cert-option').value).toBe(`valid for ${publicName}, chain trusted: route option works`);

      // Serving on the option route works with this certificate: the sni route's verdict only warns.
      const onOption = await doctor({ ...overrides, route: 'option' });
      expect(failed(onOption)).toEqual([]);
      expect(byId(onOption, 'cert-sni').status).toBe('warn');

      const named = await doctor({ ...overrides, certificateName: publicName });
      expect(failed(named)).toEqual([]);
      expect(byId(named, 'cert-sni').value).toBe(`valid for ${publicName}, chain trusted: route sni works`);
    } finally {
      await publicOnly.emulator.stop();
    }
  });

  it('a server that does not take direct TLS: the TLS check says so readably and names --ssl-negotiation postgres', async () => {
    const old = await startEmulator({ fault: { kind: 'no-direct-tls' } });
    try {
      const results = await doctor({ endpoint: `${VPCE_NAME}:${old.emulator.port}`, caFile: old.ca.certFile });
      expect(failed(results)).toEqual(['tls']);
      expect(byId(results, 'tls').value).toMatch(/^TLS with 127\.0\.0\.1:\d+ failed: wrong version number \(ERR_SSL_WRONG_VERSION_NUMBER\)$/);
      expect(byId(results, 'tls').remedy).toMatch(/--ssl-negotiation postgres/);
    } finally {
      await old.emulator.stop();
    }
  });

  it('a rejected token: only the login fails, with the IAM remedy', async () => {
    const results = await doctor({}, { credentials: async () => ({ ...TEST_CREDENTIALS, secretAccessKey: 'wrong' }) });
    expect(failed(results)).toEqual(['login']);
    expect(byId(results, 'login').value).toBe('as admin: IAM authentication failed for user "admin"');
    expect(byId(results, 'login').remedy).toMatch(/dsql:DbConnectAdmin/);
  });

  it('a cluster id the management API does not know: service name, status and login fail', async () => {
    const results = await doctor({ clusterId: 'zzzzzzzzzzzzzzzzzzzzzzzzzz' });
    // The endpoint's wildcard certificate covers any cluster id of its service, so the certificate passes.
    expect(failed(results)).toEqual(['service-identifier', 'cluster-status', 'login']);
    expect(byId(results, 'service-identifier').remedy).toMatch(/cluster id or the region is wrong/);
    expect(byId(results, 'login').value).toMatch(/cluster zzzzzzzzzzzzzzzzzzzzzzzzzz not found/);
  });

  it('the wrong region: the certificate name, the management lookups and the login fail', async () => {
    const results = await doctor({ endpoint: `127.0.0.1:${rig.emulator.port}`, region: 'eu-west-1', serviceIdentifier: SERVICE_ID });
    expect(failed(results)).toEqual(['cert-sni', 'service-identifier', 'cluster-status', 'login']);
    expect(byId(results, 'service-identifier').value).toMatch(/not found in eu-west-1/);
  });

  it('no credentials: the credentials check fails with the SSO remedy and the login is skipped', async () => {
    const results = await doctor({ profile: 'dev' }, { credentials: async () => { throw new Error('Could not load credentials from any providers'); } });
    expect(failed(results)).toEqual(['credentials', 'management']);
    expect(byId(results, 'credentials').remedy).toContain('aws sso login --profile dev');
    expect(byId(results, 'login').status).toBe('skip');
  });

  it('a management API that cannot be reached while the login fails: the management check fails', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const results = await doctor({ endpointUrl: closed }, { credentials: async () => ({ ...TEST_CREDENTIALS, secretAccessKey: 'wrong' }) });
    expect(failed(results)).toEqual(['management', 'login']);
    expect(byId(results, 'management').value).toMatch(/could not reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    expect(['service-identifier', 'cluster-status'].map((id) => byId(results, id).status)).toEqual(['skip', 'skip']);
  });

  it('a management endpoint of another region: the rejection is explained as the wrong region, not as refused credentials', async () => {
    await withFake((f) => { f.servedRegion = 'eu-west-1'; }, async (url) => {
      const results = await doctor({ endpointUrl: url });
      expect(failed(results)).toEqual(['management']);
      const management = byId(results, 'management');
      expect(management.value).toContain(`InvalidSignatureException (Credential should be scoped to a valid region, not '${REGION}'.`);
      expect(management.remedy).toMatch(new RegExp(`^Wrong region, not refused credentials: the request was signed for ${REGION} `));
      expect(management.remedy).toContain(`--endpoint-url the management endpoint of ${REGION}`);
      expect(management.remedy).not.toMatch(/credentials were refused/);
      expect(byId(results, 'login').status).toBe('pass');

      // The same rejection while looking up the service identifier of an IP endpoint.
      const lookup = await doctor({ endpointUrl: url, endpoint: `127.0.0.1:${rig.emulator.port}`, region: REGION });
      expect(failed(lookup)).toEqual(['config']);
      expect(byId(lookup, 'config').remedy).toMatch(/^Wrong region, not refused credentials/);
    });
  });

  it('a policy without dsql:GetCluster: the cluster status check names the missing permission', async () => {
    await withFake((f) => { f.deniedActions.add('dsql:GetCluster'); }, async (url) => {
      const results = await doctor({ endpointUrl: url });
      expect(failed(results)).toEqual(['cluster-status']);
      expect(byId(results, 'cluster-status').value).toMatch(/AccessDeniedException/);
      expect(byId(results, 'cluster-status').remedy)
        .toBe('The credentials are valid, but the IAM policy does not allow dsql:GetCluster: allow it on this cluster (serving itself needs only dsql:DbConnect or dsql:DbConnectAdmin).');
    });
  });

  it('credentials AWS does not recognise: the management check says so, not a region or permission problem', async () => {
    await withFake((f) => { f.knownAccessKeys = new Set(['AKIAOTHEROTHEROTHER0']); }, async (url) => {
      const results = await doctor({ endpointUrl: url });
      expect(byId(results, 'management').status).toBe('fail');
      expect(byId(results, 'management').value).toMatch(/UnrecognizedClientException/);
      expect(byId(results, 'management').remedy).toMatch(/^AWS does not recognise these credentials/);
    });
  });

  it('logs in as --user on --database, admin on postgres by default, and explains a database DSQL does not have', async () => {
    const defaults = await runDoctor({ raw: raw(), scope: 'network' }, { credentials, resolve: loopback });
    expect(byId(defaults, 'login').value).toMatch(/^as admin: connected/);
    const before = rig.emulator.records.length;
    const reader = await doctor({}, {}, { user: 'app_reader' });
    expect(byId(reader, 'login').value).toMatch(/^as app_reader: connected/);
    expect(rig.emulator.records.slice(before).filter((r) => r.authenticated).map((r) => [r.user, r.action])).toEqual([['app_reader', 'DbConnect']]);
    const other = await doctor({}, {}, { database: 'reports' });
    expect(failed(other)).toEqual(['login']);
    expect(byId(other, 'login').value).toBe('as admin: database "reports" does not exist');
    expect(byId(other, 'login').remedy).toBe('DSQL has one database, postgres: drop --database or pass --database postgres.');
  });

  it('renders ✓/✗/! lines with remedies under failures and warnings, and a count', async () => {
    const text = renderReport([
      { id: 'a', title: 'first', status: 'pass', value: 'fine' },
      { id: 'b', title: 'second one', status: 'fail', value: 'broken', remedy: 'fix it' },
      { id: 'w', title: 'fourth', status: 'warn', value: 'shaky', remedy: 'look at it' },
      { id: 'c', title: 'third', status: 'skip', value: 'skipped: needs b' },
    ]);
    expect(text).toBe('✓ first       fine\n✗ second one  broken\n    → fix it\n! fourth      shaky\n    → look at it\n– third       skipped: needs b\n\n'
      + '1 passed, 1 failed, 1 warning, 1 skipped\n');
  });
});

describe('the doctor command', () => {
  const env = () => clientEnv({ AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey });
  const args = (port: number, endpointUrl = fake.url) => ['bin/dsql-proxy.js', 'doctor', '--cluster-id', CLUSTER_ID, '--endpoint', `127.0.0.1:${port}`,
    '--region', REGION, '--ca-file', rig.ca.certFile, '--endpoint-url', endpointUrl, '--connect-timeout', '2'];

  it('exits 0 with every check passed, the service identifier looked up for an IP endpoint', async () => {
    const result = await runTool(process.execPath, args(rig.emulator.port), { env: env() });
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('(service identifier from GetVpcEndpointServiceName)');
    expect(result.stdout).toContain('✓ AWS credentials');
    expect(result.stdout).toContain('resolved from environment variables (AWS_ACCESS_KEY_ID)');
    // An IP endpoint gives the option route no SNI to send, and DSQL refuses a connection without one.
    expect(result.stdout).toMatch(/– certificate valid for route option +route option cannot be used here: /);
    expect(result.stdout).toMatch(/\n10 passed, 0 failed, 0 warnings, 1 skipped\n$/);
    expectNoSecrets(result.stdout + result.stderr);
  });

  it('exits 0 with a warning when the management API cannot be reached but the login passes (a PrivateLink-only VPC)', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const base = [...args(rig.emulator.port, closed), '--service-identifier', SERVICE_ID];
    const result = await runTool(process.execPath, base, { env: env() });
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/\n! management API reachable +GetVpcEndpointServiceName \w+: could not reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)\n/);
    expect(result.stdout).toMatch(/\n {4}→ The login passed, so serving works without this API .*PrivateLink-only VPC.*--endpoint-url/);
    expect(result.stdout).toMatch(/\n✓ login and select 1 /);
    expect(result.stdout).toMatch(/\n7 passed, 0 failed, 1 warning, 3 skipped\n$/);

    const json = await runTool(process.execPath, [...base, '--json'], { env: env() });
    expect(json.status).toBe(0);
    const report = JSON.parse(json.stdout) as { ok: boolean; checks: CheckResult[] };
    expect(report.ok).toBe(true);
    expect(report.checks.filter((c) => c.status === 'warn').map((c) => c.id)).toEqual(['management']);
  });

  it('exits 1 and prints JSON for scripts when a check fails', async () => {
    const result = await runTool(process.execPath, [...args(await freePort()), '--json'], { env: env() });
    expect(result.status).toBe(1);
    const report = JSON.parse(result.stdout) as { ok: boolean; checks: CheckResult[] };
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c) => c.status === 'fail').map((c) => c.id)).toEqual(['tcp']);
  });
});
