/** STUB until the helper's branch lands. */
export function tlsServerEndPoint(_certificateDer: Buffer): Buffer | undefined {
  return undefined;
}
