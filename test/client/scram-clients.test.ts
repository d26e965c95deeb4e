import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { tlsServerEndPoint } from '../../src/client/channel-binding.js';
import { makeScramVerifier, parseScramVerifier, ScramProtocolError, ScramServerExchange, type ScramVerifier } from '../../src/client/scram.js';
import { AuthCode, MessageType } from '../../src/protocol/codes.js';
import { errorResponse } from '../../src/protocol/messages.js';
import { authenticationSasl, authenticationSaslContinue, authenticationSaslFinal, parseSaslInitialResponse, parseSaslResponse } from '../../src/protocol/sasl.js';
import { parseStartupPacket, startupParameter } from '../../src/protocol/startup.js';
import { MessageWriter } from '../../src/protocol/writer.js';
import { FrameStream } from '../../src/proxy/frame-stream.js';
import { PKI_DIR_VARIABLE } from '../support/certs.js';
import { clientEnv, runTool } from '../support/harness.js';

// Real clients (psql/libpq 15, node-postgres) against the exchange, through a minimal login-only server built from
// the SASL codec: it answers a successful login with a FATAL naming the method, so the client shows what happened.

const dir = mkdtempSync(join(process.env[PKI_DIR_VARIABLE] ?? tmpdir(), 'scram-clients-'));
const PASSWORD = 'I\u00adX \u2168 pässwörd'; // exercises libpq's SASLprep: soft hyphen, NFKC, non-ASCII letters
const VERIFIERS: ReadonlyMap<string, ScramVerifier> = new Map([['alice', parseScramVerifier(makeScramVerifier(PASSWORD))]]);
const servers: Server[] = [];
const sockets = new Set<Socket>();
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** A self-signed localhost certificate made by openssl. */
function identity(keyArgs: string[], signArgs: string[] = []): { key: string; cert: string } {
  const base = join(dir, randomBytes(4).toString('hex'));
  execFileSync('openssl', ['req', '-x509', ...keyArgs, '-nodes', '-keyout', `${base}.key`, '-out', `${base}.pem`, '-days', '1',
    '-subj', '/CN=localhost', ...signArgs], { stdio: 'pipe' });
  return { key: readFileSync(`${base}.key`, 'utf8'), cert: readFileSync(`${base}.pem`, 'utf8') };
}

const fatal = (code: string, message: string): Buffer => errorResponse({ severity: 'FATAL', code, message });

async function login(raw: Socket, tls: { key: string; cert: string } | undefined): Promise<void> {
  let socket: Duplex = raw;
  let frames = new FrameStream(socket, 'startup');
  let packet = parseStartupPacket(await frames.next());
  while (packet.kind === 'ssl' || packet.kind === 'gssenc') {
    if (packet.kind === 'ssl' && tls) {
      frames.detach();
      raw.write('S');
      const secure = new TLSSocket(raw, { isServer: true, key: tls.key, cert: tls.cert });
      await once(secure, 'secure');
      socket = secure;
      frames = new FrameStream(socket, 'startup');
    } else {
      socket.write('N');
    }
    packet = parseStartupPacket(await frames.next());
  }
  if (packet.kind !== 'startup') return;
  const user = startupParameter(packet, 'user') ?? '';
  const channelBinding = tls ? tlsServerEndPoint(Buffer.from(new X509Certificate(tls.cert).raw)) : undefined;
  const exchange = new ScramServerExchange({ user, verifier: VERIFIERS.get(user), mockSecret: randomBytes(32), channelBinding });
  frames = new FrameStream(socket, 'typed', undefined, frames.detach());
  socket.write(authenticationSasl(exchange.mechanisms()));
  try {
    const initial = parseSaslInitialResponse(await frames.next());
    socket.write(authenticationSaslContinue(exchange.serverFirst(initial.mechanism, initial.data)));
    const result = exchange.clientFinal(parseSaslResponse(await frames.next()));
    socket.end(result.ok
      ? Buffer.concat([authenticationSaslFinal(result.serverFinal), new MessageWriter(MessageType.authentication).int32(AuthCode.ok).finish(),
        fatal('08006', `test server: authenticated by ${result.method}`)])
      : fatal('28P01', `password authentication failed for user "${user}"`));
  } catch (error) {
    socket.end(fatal(error instanceof ScramProtocolError ? error.sqlstate : '08P01', (error as Error).message));
  }
}

async function startServer(tls?: { key: string; cert: string }): Promise<number> {
  const server = createServer((socket) => {
    sockets.add(socket.on('error', () => undefined).on('close', () => sockets.delete(socket)));
    login(socket, tls).catch(() => socket.destroy());
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function psql(port: number, settings: string, password = PASSWORD, user = 'alice'): Promise<string> {
  const result = await runTool('psql', ['-X', '-d', `host=127.0.0.1 port=${port} user=${user} dbname=postgres ${settings}`, '-c', 'select 1'],
    { env: clientEnv({ PGPASSWORD: password }) });
  expect(result.status).not.toBe(0);
  return result.stderr;
}

async function nodePostgres(port: number, options: pg.ClientConfig): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'alice', database: 'postgres', password: PASSWORD, ...options });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return 'connected';
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('real clients against the SCRAM exchange', () => {
  it('psql authenticates with SCRAM-SHA-256 over plain TCP, with a SASLprep\'d password', async () => {
    const port = await startServer();
    expect(await psql(port, 'sslmode=disable')).toContain('FATAL:  test server: authenticated by scram');
  });

  it('psql gets the same refusal for a wrong password and an unknown role', async () => {
    const port = await startServer();
    expect(await psql(port, 'sslmode=disable', 'wrong')).toContain('FATAL:  password authentication failed for user "alice"');
    expect(await psql(port, 'sslmode=disable', PASSWORD, 'ghost')).toContain('FATAL:  password authentication failed for user "ghost"');
  });

  for (const [name, keyArgs, signArgs] of [
    ['an EC P-384 certificate signed with SHA-384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1'], ['-sha384']],
    ['an RSA certificate signed with SHA-256', ['-newkey', 'rsa:2048'], ['-sha256']],
  ] as const) {
    it(`psql with channel_binding=require authenticates with SCRAM-SHA-256-PLUS over TLS with ${name}`, async () => {
      const port = await startServer(identity([...keyArgs], [...signArgs]));
      expect(await psql(port, 'sslmode=require channel_binding=require')).toContain('FATAL:  test server: authenticated by scram-plus');
      expect(await psql(port, 'sslmode=require channel_binding=disable')).toContain('FATAL:  test server: authenticated by scram\n');
    });
  }

  it('with an Ed25519 certificate offers no PLUS: psql falls back to SCRAM-SHA-256, and channel_binding=require refuses', async () => {
    const port = await startServer(identity(['-newkey', 'ed25519']));
    expect(await psql(port, 'sslmode=require')).toContain('FATAL:  test server: authenticated by scram\n');
    expect(await psql(port, 'sslmode=require channel_binding=require')).toContain('channel binding is required');
  });

  it('node-postgres authenticates with SCRAM-SHA-256-PLUS when it enables channel binding, else with the "y" flag', async () => {
    const port = await startServer(identity(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'], ['-sha256']));
    expect(await nodePostgres(port, { ssl: { rejectUnauthorized: false }, enableChannelBinding: true })).toBe('test server: authenticated by scram-plus');
    expect(await nodePostgres(port, { ssl: { rejectUnauthorized: false } })).toBe('test server: authenticated by scram');
  });
});
