import type { ScramVerifier } from './scram.js';
/** stub */
export class AuthFileError extends Error {}
/** stub */
export function loadAuthFile(_path: string): ReadonlyMap<string, ScramVerifier> { return new Map(); }
