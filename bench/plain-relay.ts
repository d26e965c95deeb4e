import { connect, createServer } from 'node:net';
import { relay } from '../src/proxy/relay.js';

/**
 * The Node floor for the bench: dsql-proxy's relay between two plain sockets, with no TLS and no login, from a
 * port of its own to PostgreSQL. Its CPU per transaction is what any Node relay pays before TLS.
 * Arguments: listen port, PostgreSQL port; prints "listening" when ready.
 */
const [listenPort, postgresPort] = process.argv.slice(2).map(Number);
const server = createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
  const upstream = connect({ host: '127.0.0.1', port: postgresPort!, noDelay: true, allowHalfOpen: true });
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
  upstream.once('connect', () => relay(client, upstream, () => undefined));
});
server.listen(listenPort, '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
