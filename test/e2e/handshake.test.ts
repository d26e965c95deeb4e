import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE } from '../../src/protocol/codes.js';
import { parseErrorResponse, sslRequest } from '../../src/protocol/messages.js';
import { serializeStartupMessage } from '../../src/protocol/startup.js';
import { MessageWriter } from '../../src/protocol/writer.js';
import { directClient, pgClient, startEmulator, startTestProxy, useRig, waitForActiveQuery } from '../support/harness.js';
import { queryMessage, RawClient } from '../support/raw-client.js';

const rig = useRig();

/** Opens a socket, sends `bytes`, and resolves with everything received until the proxy closes. */
function exchange(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('error', reject);
    socket.once('close', () => resolve(Buffer.concat(chunks)));
  });
}

const request = (code: number): Buffer => new MessageWriter().int32(code).finish();

describe('client handshake', () => {
  it('answers GSSENCRequest and SSLRequest with N, then serves the StartupMessage', async () => {
    const client = await RawClient.connect(rig.proxy.port, 2);
    client.send(Buffer.concat([request(GSSENC_REQUEST_CODE), sslRequest()]));
    client.send(serializeStartupMessage(196608, [['user', 'admin'], ['database', 'postgres']]));
    const frames = await client.until('Z');
    expect(Buffer.from(client.leading).toString()).toBe('NN');
    expect(frames[0]![0]).toBe(0x52);
    client.send(queryMessage('select 1'));
    expect((await client.until('Z')).some((f) => f[0] === 0x44)).toBe(true);
    client.socket.destroy();
  });

  it('refuses a second SSLRequest with 08P01', async () => {
    const reply = await exchange(rig.proxy.port, Buffer.concat([sslRequest(), sslRequest()]));
    expect(reply.subarray(0, 1).toString()).toBe('N');
    expect(parseErrorResponse(reply.subarray(1))).toMatchObject({ code: '08P01', message: 'duplicate SSL request' });
  });

  it('refuses a startup without a user with 28000', async () => {
    const reply = await exchange(rig.proxy.port, serializeStartupMessage(196608, [['database', 'postgres']]));
    expect(parseErrorResponse(reply)).toMatchObject({ severity: 'FATAL', code: '28000', message: 'no PostgreSQL user name specified in startup packet' });
  });

  it('forwards a CancelRequest sent after an SSLRequest (libpq 17 cancel API) and cancels the query', async () => {
    const victim = await pgClient(rig.proxy.port);
    // node-postgres keeps the BackendKeyData it received on the client.
    const pidAndKey = victim as unknown as { processID: number; secretKey: number };
    const running = victim.query('select pg_sleep(30)').catch((e: Error & { code?: string }) => e);
    await waitForActiveQuery('select pg_sleep(30)');
    const cancel = new MessageWriter().int32(CANCEL_REQUEST_CODE).int32(pidAndKey.processID).int32(pidAndKey.secretKey).finish();
    const reply = await exchange(rig.proxy.port, Buffer.concat([sslRequest(), cancel]));
    expect(reply.toString()).toBe('N'); // nothing else: PostgreSQL never answers a CancelRequest
    const error = await running;
    expect((error as { code?: string }).code).toBe('57014');
    await victim.end();
    expect(rig.proxy.logs.withMessage('connection closed').some((l) => l.outcome === 'cancel-forwarded')).toBe(true);
  });
});

describe('cancel connections', () => {
  it('are closed by the proxy after forwarding, even when the client keeps its side open', async () => {
    const socket = connect({ port: rig.proxy.port, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => undefined);
    await new Promise((r) => socket.once('connect', r));
    const ended = new Promise((r) => socket.once('end', r));
    socket.write(new MessageWriter().int32(CANCEL_REQUEST_CODE).int32(12345).int32(67890).finish()); // no such backend; no FIN
    await ended;
    for (let i = 0; i < 30 && rig.proxy.proxy.server.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(rig.proxy.proxy.server.openConnections).toBe(0);
    socket.destroy();
  });
});

describe('relay ends', () => {
  it('a client that sends its startup and FIN together (it can send nothing more) is closed without a session', async () => {
    const socket = connect({ port: rig.proxy.port, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => undefined);
    let received = Buffer.alloc(0);
    socket.on('data', (c: Buffer) => { received = Buffer.concat([received, c]); });
    await new Promise((r) => socket.once('connect', r));
    const closed = new Promise((r) => socket.once('close', r));
    socket.end(serializeStartupMessage(196608, [['user', 'admin'], ['database', 'postgres']]));
    await closed;
    expect(received.length).toBe(0);
    for (let i = 0; i < 30 && rig.proxy.proxy.server.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(rig.proxy.proxy.server.openConnections).toBe(0);
    expect(rig.proxy.logs.withMessage('connection closed').at(-1)).toMatchObject({ outcome: 'client-gone' });
  });

  it('when the server ends a session with an error, the client gets it and the connection ends', async () => {
    const client = await pgClient(rig.proxy.port);
    const ended = new Promise<Error>((resolve) => client.once('error', resolve));
    // DSQL refuses pg_backend_pid() (the emulator too): the session is found by its application_name instead.
    await client.query("set application_name = 'handshake-server-ends'");
    const direct = await directClient();
    await direct.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'handshake-server-ends'");
    await direct.end();
    const error = await ended as Error & { code?: string };
    expect(error.code).toBe('57P01');
  });

  it('when the endpoint drops a session without a word, the client sees the connection end promptly', async () => {
    const dropping = await startEmulator();
    const viaDropping = await startTestProxy(dropping.emulator.port, dropping.ca);
    try {
      const client = await pgClient(viaDropping.port);
      client.on('error', () => undefined);
      const ended = new Promise((resolve) => client.once('end', resolve));
      await client.query('select 1');
      const started = Date.now();
      await dropping.emulator.stop();
      await ended;
      expect(Date.now() - started).toBeLessThan(2_000);
      await expect(client.query('select 1')).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 50));
      expect(viaDropping.proxy.server.openConnections).toBe(0);
      expect(viaDropping.logs.withMessage('connection closed').at(-1)).toMatchObject({ outcome: 'relayed', closedBy: 'server' });
    } finally {
      await viaDropping.proxy.close();
    }
  });

  it('when the client drops, the upstream session is closed', async () => {
    const client = await pgClient(rig.proxy.port);
    await client.query("set application_name = 'drop-me'");
    const direct = await directClient();
    const count = async (): Promise<number> =>
      (await direct.query("select 1 from pg_stat_activity where application_name = 'drop-me'")).rowCount ?? 0;
    expect(await count()).toBe(1);
    (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    let remaining = 1;
    for (let i = 0; i < 50 && remaining > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      remaining = await count();
    }
    await direct.end();
    expect(remaining).toBe(0);
  });
});
