import { describe, expect, it } from 'vitest';
import { parseErrorResponse } from '../../src/protocol/messages.js';
import { serializeStartupMessage } from '../../src/protocol/startup.js';
import { directClient, pgClient, startEmulator, startTestProxy } from '../support/harness.js';
import { queryMessage, RawClient } from '../support/raw-client.js';

/** A clock the test moves: sessions look as old as the test says. */
function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let offset = 0;
  return { now: () => performance.now() + offset, advance: (ms) => { offset += ms; } };
}

/** An emulator of its own (stopping it drops every session without a word) and a proxy in front of it. */
async function droppingRig(clock = fakeClock()) {
  const { emulator, ca } = await startEmulator();
  const proxy = await startTestProxy(emulator.port, ca, {}, { clock });
  return { emulator, proxy, clock, stop: async () => { await proxy.proxy.close(); await emulator.stop(); } };
}

const startup = serializeStartupMessage(196608, [['user', 'admin'], ['database', 'postgres']]);

describe('when the server ends a session', () => {
  it('without a word between messages: the client is told so with FATAL 08006, not a bare hang-up', async () => {
    const rig = await droppingRig();
    try {
      const client = await pgClient(rig.proxy.port);
      const failed = new Promise<Error & { code?: string; hint?: string }>((resolve) => client.once('error', resolve));
      await client.query('select 1');
      await rig.emulator.stop();
      const error = await failed;
      expect(error.code).toBe('08006');
      expect(error.message).toMatch(/^the server closed the connection without an error message \(session age \d+ s\)$/);
      expect(rig.proxy.logs.withMessage('the server closed the session without a message; telling the client')).toHaveLength(1);
    } finally {
      await rig.stop();
    }
  });

  it('after about an hour: FATAL 57P01 naming Aurora DSQL\'s 60-minute limit, with a hint to recycle connections', async () => {
    const rig = await droppingRig();
    try {
      const client = await pgClient(rig.proxy.port);
      const failed = new Promise<Error & { code?: string; hint?: string }>((resolve) => client.once('error', resolve));
      await client.query('select 1');
      rig.clock.advance(60 * 60_000);
      await rig.emulator.stop();
      const error = await failed;
      expect(error.code).toBe('57P01');
      expect(error.message).toBe('terminating connection: Aurora DSQL closed the session after 60 minutes (it ends every connection at 60 minutes)');
      expect(error.hint).toMatch(/recycle pooled connections before 60 minutes/);
    } finally {
      await rig.stop();
    }
  });

  it('with its own FATAL: the client gets that one error and nothing added', async () => {
    const rig = await droppingRig();
    try {
      const client = await RawClient.connect(rig.proxy.port);
      client.send(startup);
      await client.until('Z');
      // DSQL refuses pg_backend_pid() (the emulator too): the session is found by its application_name instead.
      client.send(queryMessage("set application_name = 'session-end-own-fatal'"));
      await client.until('Z');
      const direct = await directClient();
      await direct.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'session-end-own-fatal'");
      await direct.end();
      const errors: Buffer[] = [];
      for (let frame = await client.next(); frame; frame = await client.next()) if (frame[0] === 0x45) errors.push(frame);
      expect(errors.map((f) => parseErrorResponse(f).code)).toEqual(['57P01']);
    } finally {
      await rig.stop();
    }
  });

  it('after the client asked to close (Terminate): nothing is added', async () => {
    const rig = await droppingRig();
    try {
      const client = await RawClient.connect(rig.proxy.port);
      client.send(startup);
      await client.until('Z');
      client.send(Buffer.from([0x58, 0, 0, 0, 4])); // Terminate, socket left open: the server hangs up
      expect(await client.next()).toBeUndefined();
      expect(rig.proxy.logs.withMessage('the server closed the session without a message; telling the client')).toHaveLength(0);
    } finally {
      await rig.stop();
    }
  });

  it('in the middle of a message: nothing is added (it would corrupt the stream), the connection just ends', async () => {
    const { emulator, ca } = await startEmulator({ fault: { kind: 'close-mid-result', bytes: 200_000 } });
    const proxy = await startTestProxy(emulator.port, ca);
    try {
      const client = await RawClient.connect(proxy.port);
      client.send(startup);
      client.send(queryMessage('select repeat(\'x\', 1000000)'));
      const frames: Buffer[] = [];
      for (let frame = await client.next(); frame; frame = await client.next()) frames.push(frame);
      expect(frames.some((f) => f[0] === 0x45)).toBe(false);
      expect(proxy.logs.withMessage('the server closed the session without a message; telling the client')).toHaveLength(0);
    } finally {
      await proxy.proxy.close();
      await emulator.stop();
    }
  });
});
