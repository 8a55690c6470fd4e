// A 64 MiB upload through airlock with DLP on, against the same upload with DLP off, in the same
// run (ratio): curl through the explicit proxy to a TLS upstream on loopback that discards the
// body. Two bodies: random bytes (what a binary upload looks like) and chat JSON carrying
// source code (the scanner's worst realistic case: escapes and keywords everywhere).
// Run: npx tsx bench/dlp-upload.ts [MiB, default 64]
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { startTestAirlock, tempDir, type TestAirlock } from '../test/helpers/airlock.ts';
import { makeUpstreamPki } from '../test/helpers/certs.ts';
import { run } from '../test/helpers/run.ts';
import { loopbackIp } from '../test/helpers/upstream.ts';

const MIB = Number(process.argv[2] ?? 64);
const dir = tempDir('airlock-bench-');
const ip = loopbackIp();
const pki = makeUpstreamPki(path.join(dir, 'pki'), ['up.test']);
const server = https.createServer({ cert: pki.cert, key: pki.key }, (req, res) => {
  req.resume();
  req.on('end', () => res.end('ok'));
});
await new Promise<void>((r) => server.listen(443, ip, r));

const policy = (dlp: boolean) => `
listen: { proxy: 127.0.0.1:0 }
upstream: { ca_files: [${pki.caCert}], resolve: { up.test: ${ip} } }
store: { body_cap_bytes: 0 }
hosts: [{ match: up.test }]
dlp: { enabled: ${dlp} }
`;

function chatJson(bytes: number): Buffer {
  const code = fs.readdirSync('proxy').filter((f) => f.endsWith('.ts')).map((f) => fs.readFileSync(path.join('proxy', f), 'utf8'));
  const parts: Buffer[] = [];
  for (let n = 0, i = 0; n < bytes; i++) {
    const b = Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: code[i % code.length] }] }));
    parts.push(b);
    n += b.length;
  }
  return Buffer.concat(parts).subarray(0, bytes);
}

const bodies = { random: crypto.randomBytes(MIB * 1024 * 1024), 'chat JSON': chatJson(MIB * 1024 * 1024) };
const files: Record<string, string> = {};
for (const [name, b] of Object.entries(bodies)) fs.writeFileSync((files[name] = path.join(dir, `${name.replace(' ', '-')}.bin`)), b);

async function upload(a: TestAirlock, file: string): Promise<number> {
  const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{time_total}', '--proxy', a.proxyUrl, '--cacert', a.caCertPath, '--data-binary', `@${file}`, 'https://up.test/u']);
  if (r.code !== 0) throw new Error(r.stderr);
  return Number(r.stdout);
}

const off = await startTestAirlock(policy(false), {}, tempDir());
const on = await startTestAirlock(policy(true), {}, tempDir());
try {
  for (const [name, file] of Object.entries(files)) {
    const t = { off: [] as number[], on: [] as number[] };
    await upload(off, file); // warm-up: TLS sessions, JIT
    await upload(on, file);
    for (let i = 0; i < 3; i++) {
      t.off.push(await upload(off, file));
      t.on.push(await upload(on, file));
    }
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[1];
    const rate = (s: number) => (MIB / s).toFixed(0);
    console.log(`${name}: DLP off ${rate(med(t.off))} MB/s, on ${rate(med(t.on))} MB/s = ${(med(t.off) / med(t.on)).toFixed(2)}x`);
  }
} finally {
  await on.close();
  await off.close();
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
