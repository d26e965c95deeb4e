/** stub */
export function authenticationSasl(_m: readonly string[]): Buffer { return Buffer.alloc(0); }
/** stub */
export function authenticationSaslContinue(_d: string): Buffer { return Buffer.alloc(0); }
/** stub */
export function authenticationSaslFinal(_d: string): Buffer { return Buffer.alloc(0); }
/** stub */
export function parseSaslInitialResponse(_f: Buffer): { mechanism: string; data: Buffer } { return { mechanism: '', data: Buffer.alloc(0) }; }
/** stub */
export function parseSaslResponse(_f: Buffer): Buffer { return Buffer.alloc(0); }
