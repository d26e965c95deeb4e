import { CompatExchange } from '../src/compat/exchange.js';
import { MessageBoundaries } from '../src/protocol/boundary.js';
import { MessageWriter } from '../src/protocol/writer.js';

/**
 * What the SQL compatibility layer costs per transaction, measured without sockets: the exact bytes pgbench's
 * select-only transaction puts on the wire each way (in its three protocols) are fed through one session's
 * CompatExchange, against the relay's own per-chunk work without it (the message-boundary tracking it does for
 * both directions anyway). The end-to-end A/B (`BENCH_ONLY=compat npm run bench`) is too noisy on two shared
 * cores to resolve a few percent; this isolates the added CPU, to be set against the proxy's measured CPU per
 * transaction. Run: `npm run bench:compat`.
 */

const QUERY = 'SELECT abalance FROM pgbench_accounts WHERE aid = 48213;';
const PARAMETERIZED = 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;';

const message = (type: string, build: (w: MessageWriter) => MessageWriter = (w) => w): Buffer =>
  build(new MessageWriter(type.charCodeAt(0))).finish();
const int16 = (value: number): Buffer => { const b = Buffer.alloc(2); b.writeInt16BE(value); return b; };
const parse = (name: string): Buffer => message('P', (w) => w.cstring(name).cstring(PARAMETERIZED).bytes(int16(0)));
const bind = (statement: string): Buffer =>
  message('B', (w) => w.cstring('').cstring(statement).bytes(int16(0)).bytes(int16(1)).int32(5).bytes(Buffer.from('48213')).bytes(int16(0)));
const describePortal = message('D', (w) => w.bytes(Buffer.from('P')).cstring(''));
const execute = message('E', (w) => w.cstring('').int32(0));
const sync = message('S');
const rowDescription = message('T', (w) => w.bytes(int16(1)).cstring('abalance').int32(16397).bytes(int16(3)).int32(23).bytes(int16(4)).int32(-1).bytes(int16(0)));
const dataRow = message('D', (w) => w.bytes(int16(1)).int32(4).bytes(Buffer.from('1234')));
const selectOne = message('C', (w) => w.cstring('SELECT 1'));
const ready = message('Z', (w) => w.bytes(Buffer.from('I')));

/** One transaction's client chunk and server chunk, per pgbench protocol. */
const TRANSACTIONS: Record<string, { client: Buffer; server: Buffer }> = {
  simple: {
    client: message('Q', (w) => w.cstring(QUERY)),
    server: Buffer.concat([rowDescription, dataRow, selectOne, ready]),
  },
  extended: {
    client: Buffer.concat([parse(''), bind(''), describePortal, execute, sync]),
    server: Buffer.concat([message('1'), message('2'), rowDescription, dataRow, selectOne, ready]),
  },
  prepared: {
    client: Buffer.concat([bind('P0_1'), describePortal, execute, sync]),
    server: Buffer.concat([message('2'), rowDescription, dataRow, selectOne, ready]),
  },
};

const ROUNDS = 7;
const TRANSACTIONS_PER_ROUND = 200_000;

/** CPU nanoseconds per transaction of `run`, the median of ROUNDS rounds. */
function measure(run: (client: Buffer, server: Buffer) => void, tx: { client: Buffer; server: Buffer }): number {
  const rounds: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.cpuUsage();
    for (let i = 0; i < TRANSACTIONS_PER_ROUND; i++) run(tx.client, tx.server);
    const used = process.cpuUsage(start);
    rounds.push(((used.user + used.system) * 1000) / TRANSACTIONS_PER_ROUND);
  }
  return rounds.sort((a, b) => a - b)[ROUNDS >> 1]!;
}

let sink = 0;
for (const [protocol, tx] of Object.entries(TRANSACTIONS)) {
  const fromServer = new MessageBoundaries();
  const fromClient = new MessageBoundaries();
  const relayOnly = (client: Buffer, server: Buffer): void => { fromClient.feed(client); fromServer.feed(server); sink += client.length; };
  const exchange = new CompatExchange({ toServer: (b) => { sink += b.length; }, toClient: (b) => { sink += b.length; } },
    { backendPid: 4242, initialStatus: 'I' });
  const withCompat = (client: Buffer, server: Buffer): void => {
    relayOnly(client, server);
    if (exchange.fromClient(client)) sink += client.length;
    if (exchange.fromServer(server)) sink += server.length;
  };
  const base = measure(relayOnly, tx);
  const compat = measure(withCompat, tx);
  console.log(`${protocol.padEnd(9)} relay bookkeeping ${base.toFixed(0)} ns/tx; with the compat layer ${compat.toFixed(0)} ns/tx; ` +
    `added ${(compat - base).toFixed(0)} ns/tx`);
}
if (sink < 0) console.log(sink);
