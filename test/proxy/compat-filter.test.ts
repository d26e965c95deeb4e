import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CompatFilter } from '../../src/proxy/compat-filter.js';
import { parseErrorFields } from '../support/wire.js';

describe('the compat layer as a relay filter', () => {
  it('ends the session with FATAL XX000 and a hint when the layer throws, instead of letting the error escape the relay', async () => {
    const client = new PassThrough();
    const server = new PassThrough();
    const sent: Buffer[] = [];
    client.on('data', (chunk: Buffer) => sent.push(chunk));
    const errors: unknown[] = [];
    const filter = new CompatFilter(client, server, { backendPid: 1, initialStatus: 'I' }, (error) => errors.push(error));
    // Stand in for a bug: the exchange throws on this chunk.
    (filter as unknown as { exchange: { fromClient: () => boolean } }).exchange.fromClient = () => { throw new Error('boom'); };
    expect(filter.fromClient(Buffer.from('Q'))).toBe(false);
    await new Promise((resolve) => client.once('close', resolve));
    expect(server.destroyed).toBe(true);
    expect(errors).toHaveLength(1);
    const frame = Buffer.concat(sent);
    expect(String.fromCharCode(frame[0]!)).toBe('E');
    const fields = parseErrorFields(frame);
    expect(fields.S ?? fields.V).toBe('FATAL');
    expect(fields.C).toBe('XX000');
    expect(fields.H).toContain('--no-sql-compat');
  });
});
