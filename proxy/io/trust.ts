// The roots airlock trusts for upstream TLS: the system store plus the policy's extra CA files.
import fs from 'node:fs';
import tls from 'node:tls';

const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];

export function upstreamTrust(caFiles: string[]): tls.SecureContext {
  const system = SYSTEM_BUNDLES.find((f) => fs.existsSync(f));
  // Node's bundled roots when the system has no bundle; never "trust nothing" and never "trust all".
  const ca: (string | Buffer)[] = system ? [fs.readFileSync(system)] : [...tls.rootCertificates];
  for (const f of caFiles) ca.push(fs.readFileSync(f));
  // One context built once: parsing the roots per connection would cost milliseconds each.
  return tls.createSecureContext({ ca, minVersion: 'TLSv1.2' });
}
