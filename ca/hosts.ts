// Host-name and IP-literal syntax shared by leaf minting and name constraints.
import { isIP } from 'node:net';

// LDH labels plus '_' (seen in real service names); lower case only, the caller normalises.
const LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
const HOSTNAME = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`);

/** Canonical text of an IP literal (IPv6 compressed, brackets stripped), or null for anything else. */
export function ipLiteral(host: string): string | null {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const version = isIP(bare);
  if (version === 4) return bare;
  // Zone ids (fe80::1%eth0) have no meaning in a certificate.
  if (version === 6 && !bare.includes('%')) {
    // WHATWG URL gives RFC 5952 form, and rewrites ::ffff:1.2.3.4 into hex the ASN.1 IP converter accepts.
    return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  }
  return null;
}

export function isHostname(host: string): boolean {
  return HOSTNAME.test(host);
}
