// Turns host patterns into an RFC 5280 NameConstraints value for the CA certificate.
import { GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints } from '@peculiar/asn1-x509';
import { ipLiteral, isHostname } from './hosts.ts';

/**
 * "api.example.com" and "*.example.com" become dNSName subtrees ("example.com" for the wildcard,
 * which RFC 5280 reads as the name and every subdomain); IP literals become /32 or /128 subtrees.
 */
export function buildNameConstraints(patterns: string[]): NameConstraints {
  const dns = new Set<string>();
  const ips = new Set<string>();
  for (const raw of patterns) {
    const p = raw.trim().toLowerCase().replace(/\.$/, '');
    const ip = ipLiteral(p);
    if (ip) {
      ips.add(ip.includes(':') ? `${ip}/128` : `${ip}/32`);
      continue;
    }
    const name = p.startsWith('*.') ? p.slice(2) : p;
    if (!isHostname(name)) {
      throw new Error(`name constraint "${raw}": expected a host name, *.domain or an IP address`);
    }
    dns.add(name);
  }
  if (dns.size === 0 && ips.size === 0) throw new Error('name constraints: no patterns given');

  const subtree = (base: GeneralName) => new GeneralSubtree({ base });
  const permitted = [
    ...[...dns].map((d) => subtree(new GeneralName({ dNSName: d }))),
    ...[...ips].map((i) => subtree(new GeneralName({ iPAddress: i }))),
  ];
  // A name type with no permitted subtree is unrestricted (RFC 5280 4.2.1.10), so a stolen
  // key could still sign for it: exclude every name of the types the user did not list.
  const excluded: GeneralSubtree[] = [];
  if (ips.size === 0) {
    excluded.push(subtree(new GeneralName({ iPAddress: '0.0.0.0/0' })));
    excluded.push(subtree(new GeneralName({ iPAddress: '::/0' })));
  }
  if (dns.size === 0) {
    // The empty dNSName matches every host name (OpenSSL, Go).
    excluded.push(subtree(new GeneralName({ dNSName: '' })));
  }
  return new NameConstraints({
    permittedSubtrees: new GeneralSubtrees(permitted),
    excludedSubtrees: excluded.length ? new GeneralSubtrees(excluded) : undefined,
  });
}
