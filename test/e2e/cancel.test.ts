import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CANCEL_REQUEST_CODE } from '../../src/protocol/codes.js';
import { MessageWriter } from '../../src/protocol/writer.js';
import { pgClient, startTestProxy, useRig, waitForActiveQuery } from '../support/harness.js';

const rig = useRig({ proxy: false });

/** Sends a CancelRequest for `processId`/`secret` and waits until the proxy closes the connection. */
async function sendCancel(port: number, processId: number, secret: number): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise((r) => socket.once('connect', r));
  socket.write(new MessageWriter().int32(CANCEL_REQUEST_CODE).int32(processId).int32(secret).finish());
  await new Promise((r) => socket.once('close', r));
}

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
}

describe('cancel requests', () => {
  it('a key this proxy never handed out is dropped without dialing DSQL, and logged at info', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca);
    try {
      const client = await pgClient(proxy.port);
      const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
      const before = rig.emulator.records.length;
      await sendCancel(proxy.port, processID, (secretKey + 1) | 0); // the right process, a forged key
      await sendCancel(proxy.port, 12345, 67890);
      await waitFor(() => proxy.logs.withMessage('cancel request dropped: no session of this proxy holds that key').length === 2);
      expect(rig.emulator.records.length).toBe(before);
      const dropped = proxy.logs.withMessage('cancel request dropped: no session of this proxy holds that key');
      expect(dropped.map((l) => [l.level, l.processId])).toEqual([[30, processID], [30, 12345]]);
      expect(proxy.logs.withMessage('connection closed').slice(-2).map((l) => l.outcome)).toEqual(['cancel-dropped', 'cancel-dropped']);
      expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]); // the session was not touched
      await client.end();
    } finally {
      await proxy.proxy.close();
    }
  });

  it('a key of a live session goes to the address that session reached, with its SNI, without resolving again', async () => {
    let resolutions = 0;
    // The first address refuses (nothing listens on 127.0.0.3 at that port), so the session lands on the second.
    const resolve = async (): Promise<string[]> => { resolutions++; return ['127.0.0.3', '127.0.0.1']; };
    const proxy = await startTestProxy(rig.emulator.port, rig.ca, { endpoint: `vpce-0123456789abcdef0-abcdefgh.dsql-test1.us-east-1.vpce.amazonaws.com:${rig.emulator.port}` }, { resolve });
    try {
      const client = await pgClient(proxy.port);
      expect(resolutions).toBe(1);
      const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
      const running = client.query('select pg_sleep(30)').catch((e: Error & { code?: string }) => e);
      await waitForActiveQuery('select pg_sleep(30)');
      const before = rig.emulator.records.length;
      await sendCancel(proxy.port, processID, secretKey);
      expect(((await running) as { code?: string }).code).toBe('57014');
      expect(resolutions).toBe(1);
      const forwarded = proxy.logs.withMessage('cancel request forwarded');
      expect(forwarded).toHaveLength(1);
      expect(forwarded[0]).toMatchObject({ level: 30, processId: processID, upstream: `127.0.0.1:${rig.emulator.port}` });
      const cancel = rig.emulator.records.slice(before).find((r) => r.kind === 'cancel');
      expect(cancel?.sni).toBe(`abcdefghijklmnopqrstuvwxyz.dsql-test1.us-east-1.on.aws`);
      await client.end();
    } finally {
      await proxy.proxy.close();
    }
  });

  it('a session\'s key stops working once the session has closed', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca);
    try {
      const client = await pgClient(proxy.port);
      const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
      expect(proxy.proxy.server.cancelKeys.size).toBe(1);
      await client.end();
      await waitFor(() => proxy.proxy.server.cancelKeys.size === 0);
      expect(proxy.proxy.server.cancelKeys.size).toBe(0);
      const before = rig.emulator.records.length;
      await sendCancel(proxy.port, processID, secretKey);
      await waitFor(() => proxy.logs.withMessage('cancel request dropped: no session of this proxy holds that key').length === 1);
      expect(rig.emulator.records.length).toBe(before);
    } finally {
      await proxy.proxy.close();
    }
  });

  it('a flood of cancels: one dial per live key per 100 ms, and forged keys fill the log only at debug after the first ten', async () => {
    const proxy = await startTestProxy(rig.emulator.port, rig.ca);
    try {
      const client = await pgClient(proxy.port);
      const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
      const running = client.query('select pg_sleep(30)').catch((e: Error & { code?: string }) => e);
      await waitForActiveQuery('select pg_sleep(30)');
      const before = rig.emulator.records.length;
      await Promise.all(Array.from({ length: 5 }, () => sendCancel(proxy.port, processID, secretKey)));
      expect(((await running) as { code?: string }).code).toBe('57014');
      expect(rig.emulator.records.slice(before).filter((r) => r.kind === 'cancel')).toHaveLength(1);
      await Promise.all(Array.from({ length: 20 }, (_, i) => sendCancel(proxy.port, 1000 + i, 1)));
      const dropped = proxy.logs.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('cancel request dropped'));
      expect(dropped).toHaveLength(24);
      expect(dropped.filter((l) => l.level === 30)).toHaveLength(10);
      await client.end();
    } finally {
      await proxy.proxy.close();
    }
  });
});

