import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { saslprepBytes } from '../../src/client/saslprep.js';

/** How the client sets the GS2 channel-binding flag (RFC 5802 §7). */
export type BindingFlag = 'n' | 'y' | 'p';

/**
 * A SCRAM-SHA-256(-PLUS) client written from RFC 5802 §3/§7 and RFC 5929 alone, to drive the server exchange the
 * way libpq does (empty n= unless told otherwise). Tests only.
 */
export class ScramTestClient {
  readonly nonce: string;
  private readonly gs2Header: string;
  private readonly bare: string;
  private serverSignature: Buffer | undefined;

  constructor(private readonly password: string | Buffer, private readonly options: {
    user?: string; nonce?: string; flag?: BindingFlag; bindingType?: string; channelBinding?: Buffer;
  } = {}) {
    this.nonce = options.nonce ?? randomBytes(18).toString('base64');
    const flag = options.flag ?? 'n';
    this.gs2Header = flag === 'p' ? `p=${options.bindingType ?? 'tls-server-end-point'},,` : `${flag},,`;
    this.bare = `n=${options.user ?? ''},r=${this.nonce}`;
  }

  /** client-first-message. */
  first(): Buffer {
    return Buffer.from(this.gs2Header + this.bare);
  }

  /** client-final-message answering `serverFirst`. */
  final(serverFirst: string): Buffer {
    const attributes = new Map(serverFirst.split(',').map((part) => [part[0], part.slice(2)] as const));
    const nonce = attributes.get('r')!;
    if (!nonce.startsWith(this.nonce)) throw new Error('server nonce does not extend ours');
    const salt = Buffer.from(attributes.get('s')!, 'base64');
    const iterations = Number(attributes.get('i'));
    const salted = pbkdf2Sync(saslprepBytes(this.password), salt, iterations, 32, 'sha256');
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    const binding = Buffer.concat([Buffer.from(this.gs2Header), this.options.flag === 'p' ? this.options.channelBinding ?? Buffer.alloc(0) : Buffer.alloc(0)]);
    const withoutProof = `c=${binding.toString('base64')},r=${nonce}`;
    const authMessage = `${this.bare},${serverFirst},${withoutProof}`;
    const signature = createHmac('sha256', storedKey).update(authMessage).digest();
    const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]!));
    this.serverSignature = createHmac('sha256', createHmac('sha256', salted).update('Server Key').digest()).update(authMessage).digest();
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`);
  }

  /** Whether server-final-message proves the server knew the ServerKey. */
  verifies(serverFinal: string): boolean {
    if (!serverFinal.startsWith('v=') || !this.serverSignature) return false;
    const got = Buffer.from(serverFinal.slice(2), 'base64');
    return got.length === this.serverSignature.length && timingSafeEqual(got, this.serverSignature);
  }
}
