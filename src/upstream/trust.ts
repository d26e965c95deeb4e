import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { ConfigError } from '../config.js';

/**
 * The CA list when --ca-file is given: Node's bundled roots, NODE_EXTRA_CA_CERTS and the file, because
 * a `ca` option replaces Node's default store instead of adding to it. Undefined keeps the default store.
 */
export function loadTrustedCas(caFile: string | undefined): string[] | undefined {
  if (!caFile) return undefined;
  const cas = [...rootCertificates];
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  if (extra) {
    try { cas.push(readFileSync(extra, 'utf8')); } catch { /* Node already warned about this file at start-up */ }
  }
  try {
    const pem = readFileSync(caFile, 'utf8');
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate found');
    cas.push(pem);
  } catch (error) {
    throw new ConfigError('--ca-file', `cannot use "${caFile}": ${(error as Error).message}`);
  }
  return cas;
}
