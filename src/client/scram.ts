/** STUB until the helper's branch lands. */
export interface ScramVerifier { readonly iterations: number; readonly salt: Buffer; readonly storedKey: Buffer; readonly serverKey: Buffer }
/** stub */
export class ScramProtocolError extends Error {}
/** stub */
export class ScramServerExchange {
  constructor(_options: { user: string; verifier: ScramVerifier | undefined; mockSecret: Buffer; channelBinding: Buffer | undefined }) {}
  /** stub */
  mechanisms(): string[] { return []; }
  /** stub */
  serverFirst(_mechanism: string, _clientFirst: Buffer): string { return ''; }
  /** stub */
  clientFinal(_clientFinal: Buffer): { readonly ok: true; readonly serverFinal: string; readonly method: 'scram' | 'scram-plus' } | { readonly ok: false } { return { ok: false }; }
}
