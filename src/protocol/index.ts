/** The PostgreSQL wire codec: framing, startup packets and the messages the proxy builds. No I/O. */
export * from './codes.js';
export * from './errors.js';
export * from './framer.js';
export * from './messages.js';
export * from './reader.js';
export * from './startup.js';
export * from './writer.js';
