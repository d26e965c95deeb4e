import { checkServerIdentity, type PeerCertificate } from 'node:tls';

/** At most this many of a certificate's names go into an error message (CDN certificates carry hundreds). */
const NAMES_SHOWN = 6;

/**
 * Undefined when `cert` is valid for one of `names`; otherwise an error that names the certificate's names and the
 * expected ones, so a server with some other publicly trusted certificate is never sent a token. Matching is Node's
 * own `checkServerIdentity` (RFC 6125: one wildcard, leftmost label only, never `*.tld`; CN only without DNS names).
 */
export function checkCertificateNames(names: readonly string[], cert: PeerCertificate): Error | undefined {
  let first: NodeJS.ErrnoException | undefined;
  for (const name of names) {
    const error = checkServerIdentity(name, cert);
    if (!error) return undefined;
    first ??= error;
  }
  const carried = certificateNamesOf(cert).map(printable);
  const shown = carried.length > NAMES_SHOWN
    ? `${carried.slice(0, NAMES_SHOWN).join(', ')} and ${carried.length - NAMES_SHOWN} more` : carried.join(', ');
  const message = `the certificate is valid for ${shown || '(no DNS names)'}, not for ${names.join(' or ')}`;
  return Object.assign(new Error(message), { code: first?.code ?? 'ERR_TLS_CERT_ALTNAME_INVALID' });
}

/** The DNS names (subjectAltName, else the subject CN, as Node's check reads them) a certificate carries. */
export function certificateNamesOf(cert: PeerCertificate): string[] {
  const alt = (cert.subjectaltname ?? '').split(/,\s*/).filter((e) => e.startsWith('DNS:')).map((e) => e.slice(4));
  if (alt.length > 0) return alt;
  const cn = cert.subject?.CN;
  return cn ? (Array.isArray(cn) ? cn : [cn]) : [];
}

/** A name from a server's certificate, safe to show: the server chose it, so nothing outside printable ASCII passes. */
function printable(name: string): string {
  const clean = name.replace(/[^\x21-\x7e]/g, '?');
  return clean.length > 253 ? `${clean.slice(0, 253)}…` : clean;
}
