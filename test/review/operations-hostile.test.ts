/** Review of issue 11 from a hostile neighbour's side: drains against clients that stall, the HTTP port beyond loopback. */
import { describe, expect, it } from 'vitest';
import { makeScramVerifier } from '../../src/client/scram.js';
import { CANCEL_REQUEST_CODE } from '../../src/protocol/codes.js';
import { parseErrorResponse } from '../../src/protocol/messages.js';
import { ConnectionSlots } from '../../src/proxy/connection-slots.js';
import { serializeStartupMessage } from '../../src/protocol/startup.js';
import { CLUSTER_ID, pgClient, REGION, SERVICE_ID, startTestProxy, useRig } from '../support/harness.js';
import { freePort } from '../support/postgres.js';
import { queryMessage, RawClient } from '../support/raw-client.js';
import { CREDENTIAL_ENV, eventually, spawnService } from '../support/service-process.js';
import { authFileWith, PASSWORD, useReviewFiles } from './support.js';

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
const startup = (user: string): Buffer => serializeStartupMessage(196608, [['user', user], ['database', 'postgres']]);

describe('a drain against clients that stall', () => {
  const rig = useRig({ proxy: false });
  const files = useReviewFiles();

  it('ends a session whose client stopped reading a large result within the terminate wait and flush grace, sockets and all', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca);
    const client = await RawClient.connect(proxy.port);
    try {
      client.send(startup('admin'));
      await client.until('Z');
      client.send(queryMessage("select repeat('x', 65536) from generate_series(1, 20000)"));
      client.socket.pause(); // a client that never reads again: the proxy's writes to it back up
      await new Promise((resolve) => setTimeout(resolve, 500));
      const started = performance.now();
      await proxy.proxy.server.drain(0);
      const tookMs = performance.now() - started;
      expect(tookMs).toBeLessThan(11_000); // the 5 s wait for a boundary, then at most the 5 s flush grace
      expect(proxy.proxy.server.openConnections).toBe(0);
      expect(proxy.logs.withMessage('terminating the session: the drain delay has passed')).toHaveLength(1);
    } finally {
      client.socket.destroy();
      await proxy.proxy.close();
    }
  }, 20_000);

  it('ends clients stalled in their TLS handshake and mid-SCRAM at once, the SCRAM one with FATAL 57P01', async () => {
    const authFile = authFileWith(files.dir, 'drain-users.txt', { app: makeScramVerifier(PASSWORD) });
    const proxy = await startTestProxy(rig.emulator.port, rig.ca, { authFile, tlsCert: files.certFile, tlsKey: files.keyFile });
    const handshaking = await RawClient.connect(proxy.port, 1);
    const scram = await RawClient.connect(proxy.port);
    try {
      handshaking.send(SSL_REQUEST);
      for (let i = 0; i < 100 && handshaking.leading.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(handshaking.leading).toEqual([0x53]); // 'S': the proxy now waits for a ClientHello that never comes
      scram.send(startup('app'));
      const sasl = await scram.next(5_000);
      expect(sasl?.[0]).toBe(0x52); // AuthenticationSASL: the proxy now waits for SASLInitialResponse
      const started = performance.now();
      await proxy.proxy.server.drain(0);
      expect(performance.now() - started).toBeLessThan(3_000); // the FATAL's flush grace (2 s) at most
      const fatal = await scram.next(1_000);
      expect(fatal && parseErrorResponse(fatal)).toMatchObject({ severity: 'FATAL', code: '57P01' });
      await Promise.all([handshaking.closed, scram.closed]);
      expect(proxy.proxy.server.openConnections).toBe(0);
    } finally {
      handshaking.socket.destroy();
      scram.socket.destroy();
      await proxy.proxy.close();
    }
    expect(proxy.logs.text).not.toContain(PASSWORD);
  });
});

describe('--http-listen beyond loopback', () => {
  const rig = useRig({ proxy: false });
  const serveArgs = (): string[] => [
    '--cluster-id', CLUSTER_ID, '--endpoint', `127.0.0.1:${rig.emulator.port}`, '--region', REGION,
    '--service-identifier', SERVICE_ID, '--ca-file', rig.ca.certFile, '--listen', '127.0.0.1:0',
  ];

  it('warns that /metrics and the probes answer anyone who can reach the address, and stays quiet on loopback', async () => {
    const wide = await spawnService([...serveArgs(), '--http-listen', `0.0.0.0:${await freePort()}`], CREDENTIAL_ENV);
    const warnings = wide.lines().filter((l) => l.level === 40 && String(l.msg).includes('/metrics'));
    expect(await wide.stop()).toBe(0);
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]!.msg)).toMatch(/without authentication/);
    const local = await spawnService([...serveArgs(), '--http-listen', String(await freePort())], CREDENTIAL_ENV);
    const quiet = local.lines().filter((l) => l.level === 40);
    expect(await local.stop()).toBe(0);
    expect(quiet).toEqual([]);
  });
});

describe('signals while draining', () => {
  const rig = useRig({ proxy: false });
  const serveArgs = (): string[] => [
    '--cluster-id', CLUSTER_ID, '--endpoint', `127.0.0.1:${rig.emulator.port}`, '--region', REGION,
    '--service-identifier', SERVICE_ID, '--ca-file', rig.ca.certFile, '--listen', '127.0.0.1:0',
  ];

  it('a SIGHUP during the drain (a closed terminal, a reload) neither kills the process nor cuts the session in flight', async () => {
    const proxy = await spawnService([...serveArgs(), '--max-sigterm-delay', '60'], CREDENTIAL_ENV);
    const client = await pgClient(proxy.ports[0]!);
    try {
      await client.query('begin');
      proxy.child.kill('SIGTERM');
      expect(await eventually(() => proxy.lines().some((l) => l.msg === 'draining'))).toBe(true);
      proxy.child.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 300));
      expect(proxy.child.signalCode).toBeNull();
      expect((await client.query('select 1 as n')).rows).toEqual([{ n: 1 }]);
      await client.query('commit');
      await client.end();
      expect(await proxy.exited).toBe(0);
    } finally {
      await client.end().catch(() => undefined);
      if (proxy.child.exitCode === null && proxy.child.signalCode === null) await proxy.stop('SIGKILL');
    }
  });
});

describe('a flood against --max-connections', () => {
  const rig = useRig({ proxy: false });

  it('still forwards a cancel for a session in flight, and gives every slot back once the flood leaves', async () => {
    const slots = new ConnectionSlots(1);
    const proxy = await startTestProxy(rig.emulator.port, rig.ca, {}, { slots });
    const session = await RawClient.connect(proxy.port);
    const flood = await Promise.all(Array.from({ length: 20 }, () => RawClient.connect(proxy.port)));
    try {
      session.send(startup('admin'));
      const login = await session.until('Z');
      const keyData = login.find((frame) => frame[0] === 0x4b)!; // BackendKeyData: pid and secret key
      session.send(queryMessage('select pg_sleep(30)'));
      await new Promise((r) => setTimeout(r, 300));
      for (const client of flood.slice(0, 10)) client.send(startup('admin')); // half of them ask in vain, half stay silent
      const refused = await flood[0]!.next(5_000);
      expect(refused && parseErrorResponse(refused)).toMatchObject({ code: '53300' });
      const cancel = Buffer.alloc(16);
      cancel.writeInt32BE(16, 0);
      cancel.writeInt32BE(CANCEL_REQUEST_CODE, 4);
      keyData.copy(cancel, 8, 5, 13);
      const canceller = await RawClient.connect(proxy.port);
      canceller.send(cancel);
      await canceller.closed;
      const answer = await session.until('E');
      expect(parseErrorResponse(answer.at(-1)!)).toMatchObject({ code: '57014' }); // query_canceled
    } finally {
      for (const client of flood) client.socket.destroy();
      session.socket.destroy();
      for (let i = 0; i < 100 && proxy.proxy.server.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(proxy.proxy.server.openConnections).toBe(0);
      expect(slots.inUse).toBe(0);
      await proxy.proxy.close();
    }
  });
});
