// Real TLS handshakes against minted leaves: Python's ssl in X509_STRICT mode and node's tls.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caPaths, importCa, initCa, loadCa } from '../../ca/authority.ts';
import { LeafMinter } from '../../ca/leaf-cache.ts';

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'airlock-ca-tls-'));

// Python's own client: default context (hostname check on) plus VERIFY_X509_STRICT.
const PY_CLIENT = `
import socket, ssl, sys
cafile, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
ctx.verify_flags |= ssl.VERIFY_X509_STRICT
with socket.create_connection(("127.0.0.1", port)) as raw:
    with ctx.wrap_socket(raw, server_hostname=name) as tls:
        print("OK", tls.version())
`;

/**
 * Terminates TLS the way the proxy does after CONNECT: it already knows the target host,
 * so it wraps the socket with that host's context (no SNI needed, which IP clients omit).
 */
async function tlsServer(minter: LeafMinter): Promise<{ server: Server; port: number; target: { host: string } }> {
  const target = { host: '' };
  const server = createServer((sock) => {
    const tls = new TLSSocket(sock, { isServer: true, secureContext: minter.secureContext(target.host) });
    tls.on('error', () => tls.destroy());
    tls.on('secure', () => tls.end('hi'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, target };
}

async function python(cafile: string, port: number, name: string): Promise<string> {
  try {
    const { stdout } = await run('python3', ['-c', PY_CLIENT, cafile, String(port), name]);
    return stdout.trim();
  } catch (err) {
    return `FAIL ${(err as { stderr?: string }).stderr ?? String(err)}`;
  }
}

function nodeClient(caPem: string, port: number, name: string): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port, ca: caPem, servername: name });
    sock.on('secureConnect', () => {
      resolve(sock.authorized ? 'OK' : `FAIL ${sock.authorizationError}`);
      sock.destroy();
    });
    sock.on('error', (err) => resolve(`FAIL ${err.message}`));
  });
}

describe('handshakes with a generated CA', () => {
  const dataDir = join(work, 'gen');
  let srv: Awaited<ReturnType<typeof tlsServer>>;
  beforeAll(async () => {
    initCa(dataDir);
    srv = await tlsServer(new LeafMinter(loadCa(dataDir)));
  });
  afterAll(() => srv.server.close());

  it('python strict verification accepts a DNS leaf', async () => {
    srv.target.host = 'api.example.com';
    expect(await python(caPaths(dataDir).cert, srv.port, 'api.example.com')).toMatch(/^OK TLSv1\.3$/);
  });

  it('python strict verification accepts an IP leaf', async () => {
    srv.target.host = '127.0.0.1';
    expect(await python(caPaths(dataDir).cert, srv.port, '127.0.0.1')).toMatch(/^OK /);
  });

  it('python rejects the leaf for another name', async () => {
    srv.target.host = 'api.example.com';
    expect(await python(caPaths(dataDir).cert, srv.port, 'www.example.com')).toMatch(/FAIL[\s\S]*Hostname mismatch/);
  });

  it('node tls accepts the leaf', async () => {
    srv.target.host = 'api.example.com';
    const caPem = readFileSync(caPaths(dataDir).cert, 'utf8');
    expect(await nodeClient(caPem, srv.port, 'api.example.com')).toBe('OK');
  });
});

describe('handshakes with an imported intermediate CA', () => {
  const dataDir = join(work, 'int');
  const f = (name: string) => join(work, name);
  let srv: Awaited<ReturnType<typeof tlsServer>>;
  beforeAll(async () => {
    const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc', '-keyout', f('root.key'),
      '-out', f('root.crt'), '-days', '30', '-subj', '/O=Example Corp/CN=Example Root',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    ossl('req', '-new', '-newkey', 'rsa:2048', '-noenc', '-keyout', f('int.key'), '-out', f('int.csr'),
      '-subj', '/O=Example Corp/CN=Example Egress Intermediate');
    writeFileSync(f('int.ext'), [
      '[v3]',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
      'keyUsage=critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid:always',
      '',
    ].join('\n'));
    ossl('x509', '-req', '-in', f('int.csr'), '-CA', f('root.crt'), '-CAkey', f('root.key'), '-set_serial', '4660',
      '-days', '20', '-extfile', f('int.ext'), '-extensions', 'v3', '-out', f('int.crt'));
    importCa(dataDir, f('int.crt'), f('int.key'));
    srv = await tlsServer(new LeafMinter(loadCa(dataDir)));
  });
  afterAll(() => srv.server.close());

  it('sends the intermediate, so clients trusting only the root verify strictly', async () => {
    srv.target.host = 'api.example.com';
    expect(await python(f('root.crt'), srv.port, 'api.example.com')).toMatch(/^OK /);
    expect(await nodeClient(readFileSync(f('root.crt'), 'utf8'), srv.port, 'api.example.com')).toBe('OK');
  });
});

afterAll(() => rmSync(work, { recursive: true, force: true }));
