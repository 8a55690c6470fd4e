// Fakes of the public registries the presets name, on one loopback HTTPS server routed by Host:
// an npm registry (packument, tarball, audit), PyPI's simple index and files host, and GitHub's
// git smart HTTP (git http-backend). Real clients (npm, pip, git) run against them through airlock.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { UpstreamPki } from './certs.ts';
import { relayCgi } from './upstream.ts';

export const REGISTRY_HOSTS = ['registry.npmjs.org', 'pypi.org', 'files.pythonhosted.org', 'github.com'];

export interface FakeRegistries {
  seen: { method: string; host: string; path: string }[];
  close(): Promise<void>;
}

/** A package `name`@1.0.0 as npm pack makes it. */
function npmTarball(dir: string, name: string): Buffer {
  const pkg = path.join(dir, 'npm-src');
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name, version: '1.0.0', main: 'index.js' }));
  fs.writeFileSync(path.join(pkg, 'index.js'), 'module.exports = 42;\n');
  const file = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: pkg, env: { ...process.env, npm_config_cache: path.join(dir, 'npm-cache') } }).toString().trim();
  return fs.readFileSync(path.join(dir, file));
}

/** A pure-Python wheel `name`-1.0, zipped by python3's zipfile. */
function wheel(dir: string, name: string): { file: string; data: Buffer } {
  const file = `${name}-1.0-py3-none-any.whl`;
  const out = path.join(dir, file);
  const script = `
import sys, zipfile
name, out = sys.argv[1], sys.argv[2]
info = f"{name}-1.0.dist-info"
files = {f"{name}/__init__.py": "VALUE = 42\\n",
         f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: 1.0\\n",
         f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: airlock-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
with zipfile.ZipFile(out, "w") as z:
    for k, v in files.items(): z.writestr(k, v)
    z.writestr(f"{info}/RECORD", "".join(f"{k},,\\n" for k in files) + f"{info}/RECORD,,\\n")
`;
  execFileSync('python3', ['-c', script, name, out]);
  return { file, data: fs.readFileSync(out) };
}

/** A bare repository `owner/repo.git` with one commit on main. */
function gitRepo(root: string, owner: string, repo: string): void {
  const bare = path.join(root, owner, `${repo}.git`);
  fs.mkdirSync(path.dirname(bare), { recursive: true });
  execFileSync('git', ['init', '-q', '--bare', bare]);
  const work = path.join(root, 'work');
  execFileSync('git', ['init', '-q', '-b', 'main', work]);
  fs.writeFileSync(path.join(work, 'README.md'), 'hello from the fake GitHub\n');
  execFileSync('git', ['-C', work, 'add', '.']);
  execFileSync('git', ['-C', work, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'first']);
  execFileSync('git', ['-C', work, 'push', '-q', bare, 'main']);
  execFileSync('git', ['-C', bare, 'symbolic-ref', 'HEAD', 'refs/heads/main']);
}

export async function startFakeRegistries(dir: string, pki: UpstreamPki, host: string, names: { npm: string; pypi: string; github: string }): Promise<FakeRegistries> {
  const seen: FakeRegistries['seen'] = [];
  const tgz = npmTarball(dir, names.npm);
  const whl = wheel(dir, names.pypi);
  const repos = path.join(dir, 'repos');
  const [owner, repo] = names.github.split('/');
  gitRepo(repos, owner, repo);
  const packument = JSON.stringify({
    name: names.npm,
    'dist-tags': { latest: '1.0.0' },
    versions: {
      '1.0.0': {
        name: names.npm,
        version: '1.0.0',
        main: 'index.js',
        dist: {
          tarball: `https://registry.npmjs.org/${names.npm}/-/${names.npm}-1.0.0.tgz`,
          shasum: crypto.createHash('sha1').update(tgz).digest('hex'),
          integrity: `sha512-${crypto.createHash('sha512').update(tgz).digest('base64')}`,
        },
      },
    },
  });
  const whlPath = `/packages/aa/bb/${whl.file}`;
  const simple = `<!DOCTYPE html><html><body><a href="https://files.pythonhosted.org${whlPath}#sha256=${crypto.createHash('sha256').update(whl.data).digest('hex')}">${whl.file}</a></body></html>`;

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'https://x');
    const h = (req.headers.host ?? '').replace(/:\d+$/, '');
    seen.push({ method: req.method!, host: h, path: url.pathname });
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (h === 'github.com') return gitBackend(req, res, repos, url);
    req.resume();
    req.on('end', () => {
      if (h === 'registry.npmjs.org') {
        if (url.pathname === `/${names.npm}`) return send(200, 'application/json', packument);
        if (url.pathname === `/${names.npm}/-/${names.npm}-1.0.0.tgz`) return send(200, 'application/octet-stream', tgz);
        if (url.pathname.startsWith('/-/npm/v1/security/')) return send(200, 'application/json', '{}');
      }
      if (h === 'pypi.org' && url.pathname === `/simple/${names.pypi.replace(/_/g, '-')}/`) return send(200, 'text/html', simple);
      if (h === 'files.pythonhosted.org' && url.pathname === whlPath) return send(200, 'application/octet-stream', whl.data);
      send(404, 'text/plain', 'not found\n');
    });
  };
  const server = https.createServer({ cert: pki.cert, key: pki.key }, handler);
  await new Promise<void>((r) => server.listen(443, host, r));
  return {
    seen,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** git's smart HTTP through the real git-http-backend CGI program. */
function gitBackend(req: http.IncomingMessage, res: http.ServerResponse, root: string, url: URL): void {
  const cgi = spawn('git', ['http-backend'], {
    env: {
      ...process.env,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: url.pathname,
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: req.method!,
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
      REMOTE_ADDR: '127.0.0.1',
    },
  });
  req.pipe(cgi.stdin);
  relayCgi(cgi.stdout, res);
}
