// What a bare Node TLS-terminating forwarder costs on the shared harness (kind "node-floor",
// bench/kinds/node-floor.sh): node:https server -> undici Pool -> TLS upstream, with no policy, DLP,
// recording or limits. Not airlock: the floor Node's own HTTP and TLS stacks set for it, to read
// airlock's ratios against (docs/bench.md, "What Node itself costs").
import fs from 'node:fs';
import https from 'node:https';
import { Pool } from 'undici';
const [ip, port, cert, key, ca, hostsFile] = process.argv.slice(2);
const hosts = new Map();
for (const l of fs.readFileSync(hostsFile, 'utf8').split('\n')) { const f = l.trim().split(/\s+/); if (f.length >= 2 && !f[0].startsWith('#')) for (const n of f.slice(1)) hosts.set(n, f[0]); }
const caPem = fs.readFileSync(ca);
const pools = new Map();
function pool(host) {
  let p = pools.get(host);
  if (!p) pools.set(host, (p = new Pool(`https://${hosts.get(host)}`, { connect: { servername: host, ca: caPem }, connections: 64 })));
  return p;
}
const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => {
  const host = (req.headers.host ?? '').split(':')[0];
  const headers = { ...req.headers };
  delete headers.connection;
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool(host).request({ path: req.url, method: req.method, headers, body: hasBody ? req : null }).then(
    (up) => {
      const h = {};
      for (const [k, v] of Object.entries(up.headers)) if (k !== 'connection' && k !== 'keep-alive' && k !== 'transfer-encoding') h[k] = v;
      res.writeHead(up.statusCode, h);
      up.body.pipe(res);
    },
    (err) => { res.writeHead(502); res.end(String(err.message)); },
  );
});
server.keepAliveTimeout = 60000;
server.listen(Number(port), ip);
