// What report mode never relaxes (docs/policy.md#report-mode, security.md 3c), through a real
// airlock, curl and a TLS upstream: a request the host rules would deny goes through as would_deny,
// but a secret DLP blocks, a placeholder sent to another host, and a rule's credential over plain
// HTTP are refused exactly as in enforce mode, and nothing of them reaches the upstream.
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { run } from '../helpers/run.ts';
import { startTlsUpstream, type TestUpstream } from '../helpers/upstream.ts';

const AWS = 'AKIAQYLPMN5HHHFPZAM2'; // an AWS access key id the built-in pack blocks
const PLACEHOLDER = 'airlock-placeholder-report-mode';
let airlock: TestAirlock;
let up: TestUpstream;

beforeAll(async () => {
  const dir = tempDir();
  const { ip, pki, up: started } = await startTlsUpstream(dir, ['api.test', 'other.test']);
  up = started;
  airlock = await startTestAirlock(
    `mode: report
listen: { proxy: 127.0.0.1:0 }
upstream:
  ca_files: [${pki.caCert}]
  resolve: { api.test: ${ip}, other.test: ${ip} }
hosts:
  - name: api
    match: api.test
    allow_ips: [${ip}]
    paths: [/v1/]
    inject: { headers: { x-api-key: env:RM_KEY } }
    placeholder: ${PLACEHOLDER}
  - name: other
    match: other.test
    allow_ips: [${ip}]
    paths: [/ok]
`,
    { RM_KEY: 'rm-real-key-5d1c0b7e9a' },
    dir,
  );
});

afterAll(async () => {
  await airlock?.close();
  await up?.close();
});

async function curl(url: string, ...args: string[]): Promise<{ status: number; body: string }> {
  const r = await run('curl', ['-sS', '--proxy', airlock.proxyUrl, '--cacert', airlock.caCertPath, '-o', '-', '-w', '\n%{http_code}', ...args, url]);
  const at = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(at + 1)), body: r.stdout.slice(0, at) };
}

async function lastFlow(path: string): Promise<{ decision: string; code: string | null }> {
  await airlock.store.flush();
  const db = new Database(airlock.config.store.path, { readonly: true });
  try {
    return db.prepare('SELECT decision, code FROM flows WHERE path = ? ORDER BY id DESC LIMIT 1').get(path) as { decision: string; code: string | null };
  } finally {
    db.close();
  }
}

const reached = (path: string) => up.seen.filter((s) => s.url === path).length;

it('a path the rule would refuse goes through, recorded as would_deny, with the rule credential', async () => {
  const r = await curl('https://api.test/echo');
  expect(r.status).toBe(200);
  expect(await lastFlow('/echo')).toMatchObject({ decision: 'would_deny', code: 'path_not_allowed' });
  expect(up.seen.at(-1)?.headers['x-api-key']).toBe('rm-real-key-5d1c0b7e9a');
});

it('DLP still blocks a secret in a would-be-denied request before it leaves', async () => {
  const r = await curl('https://api.test/echo-dlp', '-H', `x-note: ${AWS}`);
  expect(r.status).toBe(403);
  expect(JSON.parse(r.body)).toMatchObject({ error: 'dlp_blocked' });
  expect(await lastFlow('/echo-dlp')).toMatchObject({ decision: 'deny', code: 'dlp_blocked' });
  expect(reached('/echo-dlp')).toBe(0);
});

it("a placeholder sent to another host is still refused, even where report mode lets the request through", async () => {
  const r = await curl('https://other.test/elsewhere', '-H', `authorization: Bearer ${PLACEHOLDER}`);
  expect(r.status).toBe(403);
  expect(JSON.parse(r.body)).toMatchObject({ error: 'placeholder_exfiltration' });
  expect(await lastFlow('/elsewhere')).toMatchObject({ decision: 'deny', code: 'placeholder_exfiltration' });
  expect(reached('/elsewhere')).toBe(0);
});

it("the rule's credential never goes out over plain HTTP: that request stays denied", async () => {
  const r = await curl('http://api.test/v1/plain');
  expect(r.status).toBe(403);
  expect(JSON.parse(r.body)).toMatchObject({ error: 'plain_http_not_allowed' });
  expect(await lastFlow('/v1/plain')).toMatchObject({ decision: 'deny', code: 'plain_http_not_allowed' });
  expect(reached('/v1/plain')).toBe(0);
});
