// An npm registry stub that wants Basic auth: packuments and tarballs (made with tar) for a few
// packages, each answer only with the right user and password; 401 otherwise.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';

export interface FakeRegistryOptions {
  tls: { cert: string; key: string };
  host: string;
  /** The registry's name in URLs (its tarball links point there). */
  name: string;
  user: string;
  password: string;
  dir: string;
  packages: { name: string; version: string; main: string }[];
}

export interface FakeRegistry {
  /** Authorization headers received, and whether they were accepted. */
  seen: { url: string; authorization: string; ok: boolean }[];
  close(): Promise<void>;
}

export async function startFakeRegistry(o: FakeRegistryOptions): Promise<FakeRegistry> {
  const tarballs = new Map<string, Buffer>();
  const packuments = new Map<string, string>();
  for (const p of o.packages) {
    const root = path.join(o.dir, `${p.name}-${p.version}`);
    fs.mkdirSync(path.join(root, 'package'), { recursive: true });
    fs.writeFileSync(path.join(root, 'package', 'package.json'), JSON.stringify({ name: p.name, version: p.version, main: 'index.js' }));
    fs.writeFileSync(path.join(root, 'package', 'index.js'), p.main);
    const tgz = path.join(root, 'p.tgz');
    execFileSync('tar', ['czf', tgz, '-C', root, 'package']);
    const data = fs.readFileSync(tgz);
    const file = `/${p.name}/-/${p.name}-${p.version}.tgz`;
    tarballs.set(file, data);
    const integrity = `sha512-${createHash('sha512').update(data).digest('base64')}`;
    const shasum = createHash('sha1').update(data).digest('hex');
    packuments.set(
      `/${p.name}`,
      JSON.stringify({
        name: p.name,
        'dist-tags': { latest: p.version },
        versions: { [p.version]: { name: p.name, version: p.version, main: 'index.js', dist: { tarball: `https://${o.name}${file}`, integrity, shasum } } },
      }),
    );
  }
  const want = `Basic ${Buffer.from(`${o.user}:${o.password}`).toString('base64')}`;
  const fake: FakeRegistry = {
    seen: [],
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
  const server = https.createServer({ cert: o.tls.cert, key: o.tls.key }, (req, res) => {
    const authorization = req.headers.authorization ?? '';
    const ok = authorization === want;
    fake.seen.push({ url: req.url!, authorization, ok });
    req.resume();
    if (!ok) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="registry"', 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ error: 'authentication required' }));
    }
    const url = decodeURIComponent(new URL(req.url!, 'https://x').pathname);
    const tgz = tarballs.get(url);
    if (tgz) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': tgz.length });
      return void res.end(tgz);
    }
    const doc = packuments.get(url);
    res.writeHead(doc ? 200 : 404, { 'content-type': 'application/json' });
    res.end(doc ?? JSON.stringify({ error: 'not found' }));
  });
  await new Promise<void>((r) => server.listen(443, o.host, r));
  return fake;
}
