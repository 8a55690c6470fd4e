// The CA page: a reserved name an agent can reach through the proxy, like mitmproxy's mitm.it,
// that serves airlock's public CA certificate and how to install it, and nothing else (never the
// key, never a flow). The name is under .invalid (RFC 6761), so it can never be a real host.

export const CA_PAGE_HOST = 'airlock.invalid';

export interface CaPageResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

/** GET / (install steps), /ca.pem, /ca.der; anything else is a 404 that points at /. */
export function caPage(path: string, method: string, certPem: string, certDer: Buffer): CaPageResponse {
  const base = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
  if (method !== 'GET' && method !== 'HEAD') return { status: 405, headers: { ...base, allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }, body: 'GET only\n' };
  const p = path.split('?')[0];
  if (p === '/ca.pem' || p === '/airlock-ca.pem') return { status: 200, headers: { ...base, 'content-type': 'application/x-pem-file' }, body: certPem };
  if (p === '/ca.der' || p === '/airlock-ca.der') return { status: 200, headers: { ...base, 'content-type': 'application/pkix-cert' }, body: certDer };
  if (p !== '/') return { status: 404, headers: { ...base, 'content-type': 'text/plain; charset=utf-8' }, body: `no such file; see http://${CA_PAGE_HOST}/\n` };
  return { status: 200, headers: { ...base, 'content-type': 'text/plain; charset=utf-8' }, body: installSteps(certPem) };
}

function installSteps(pem: string): string {
  const h = CA_PAGE_HOST;
  return `airlock CA certificate
======================

This proxy (airlock) terminates TLS with its own CA. Trust this certificate, and only for as
long as you use this proxy. The certificate is public; its key never leaves airlock.

Download:  http://${h}/ca.pem  (PEM)   http://${h}/ca.der  (DER)
  curl -x "$HTTPS_PROXY" -o airlock-ca.pem http://${h}/ca.pem

Then, per tool:
  Node.js        NODE_EXTRA_CA_CERTS=$PWD/airlock-ca.pem
  Python         SSL_CERT_FILE=$PWD/airlock-ca.pem REQUESTS_CA_BUNDLE=$PWD/airlock-ca.pem
  pip            pip --cert airlock-ca.pem ... (or PIP_CERT)
  curl           curl --cacert airlock-ca.pem ... (or CURL_CA_BUNDLE)
  git            GIT_SSL_CAINFO=$PWD/airlock-ca.pem
  npm            npm config set cafile $PWD/airlock-ca.pem
  Java           keytool -importcert -noprompt -alias airlock -file airlock-ca.pem -keystore airlock.jks -storepass changeit
                 java -Djavax.net.ssl.trustStore=airlock.jks -Djavax.net.ssl.trustStorePassword=changeit ...
  Go             SSL_CERT_FILE=$PWD/airlock-ca.pem
  Debian/Ubuntu  cp airlock-ca.pem /usr/local/share/ca-certificates/airlock-ca.crt && update-ca-certificates
  Alpine         same, with apk add ca-certificates first
  RHEL/Fedora    cp airlock-ca.pem /etc/pki/ca-trust/source/anchors/ && update-ca-trust

${pem.trim()}
`;
}
