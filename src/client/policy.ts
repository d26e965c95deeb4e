import { randomBytes } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { isLoopbackHost, type AccessConfig } from '../access-config.js';
import { SCRAM_DEFAULT_ITERATIONS, type ScramVerifier } from './scram.js';
import type { LocalTls } from './tls.js';

/** How a client proved who it is, for the audit line. */
export type AuthMethod = 'trust-loopback' | 'trust' | 'scram' | 'scram-plus' | 'cert' | 'cert+scram' | 'cert+scram-plus';

/**
 * The rules of one proxy's listeners: who may connect from where, as which role, and what they must prove. The
 * session asks it before anything is dialed; the verifiers are read through `passwords` on every login, so a
 * reloaded auth file applies to the next client without touching open sessions.
 */
export class AccessPolicy {
  private readonly blocks: BlockList | undefined;
  private readonly roles: ReadonlySet<string> | undefined;
  /** Per-process secret behind the mock SCRAM salts of unknown roles (stable, so a role's salt never changes). */
  readonly mockSecret = randomBytes(32);

  /** Builds the policy from validated options, the loaded TLS identity and the current auth file's verifiers. */
  constructor(
    readonly config: AccessConfig,
    readonly tls: LocalTls | undefined,
    private readonly verifierSource: () => ReadonlyMap<string, ScramVerifier> | undefined,
  ) {
    this.roles = config.allowRoles ? new Set(config.allowRoles) : undefined;
    if (config.allowCidr) {
      const blocks = new BlockList();
      for (const block of config.allowCidr) blocks.addSubnet(block.address, block.prefix, block.family);
      this.blocks = blocks;
    }
  }

  /** A policy that lets every client in without TLS or password (the loopback default, and tests). */
  static open(): AccessPolicy {
    return new AccessPolicy({
      authFile: undefined, tls: undefined, requireTls: false, allowRoles: undefined, allowCidr: undefined,
      unixSocket: undefined, allowUnauthenticated: false,
    }, undefined, () => undefined);
  }

  /** Whether a plaintext client is refused. */
  get requireTls(): boolean {
    return this.config.requireTls;
  }

  /** Whether the client must present a certificate whose CN is its role. */
  get requireClientCertificate(): boolean {
    return this.tls?.requestClientCert ?? false;
  }

  /** The verifiers of the auth file as last loaded; undefined when clients need no password. */
  get passwords(): ReadonlyMap<string, ScramVerifier> | undefined {
    return this.verifierSource();
  }

  /**
   * The iteration count most verifiers in the auth file use, for the mock exchange of an unknown role: announcing
   * 4096 while the real roles say 10000 would tell a prober which roles exist.
   */
  mockIterations(passwords: ReadonlyMap<string, ScramVerifier>): number {
    let counted = typicalIterations.get(passwords);
    if (counted === undefined) {
      const tally = new Map<number, number>();
      for (const { iterations } of passwords.values()) tally.set(iterations, (tally.get(iterations) ?? 0) + 1);
      counted = [...tally].reduce<[number, number]>((best, entry) => (entry[1] > best[1] ? entry : best), [SCRAM_DEFAULT_ITERATIONS, 0])[0];
      typicalIterations.set(passwords, counted);
    }
    return counted;
  }

  /** Whether a TCP client at `address` may connect; unix-socket clients (no address) are governed by the file mode. */
  addressAllowed(address: string | undefined): boolean {
    if (!this.blocks || address === undefined) return true;
    const plain = unmapped(address);
    const family = isIP(plain);
    return family !== 0 && this.blocks.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  }

  /** Whether `role` may connect. */
  roleAllowed(role: string): boolean {
    return !this.roles || this.roles.has(role);
  }
}

/** Per loaded auth file (a reload makes a new map), its most common iteration count. */
const typicalIterations = new WeakMap<ReadonlyMap<string, ScramVerifier>, number>();

/** Whether a client address (`undefined` for a unix socket) is this host's own loopback, IPv4-mapped form included. */
export function isLoopbackClient(address: string | undefined): boolean {
  return address !== undefined && isLoopbackHost(unmapped(address));
}

/** An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d; the rules name IPv4 blocks as such. */
function unmapped(address: string): string {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return match ? match[1]! : address;
}
