// The audit trail: bodies (capped, decoded, scrubbed of injected keys), the hash chain and
// `airlock flows`, against a real airlock, a real upstream and real curl.
import { bodiesOf } from '../../proxy/store/bodies.ts';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFlows } from '../../proxy/cli/flows.ts';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { run } from '../helpers/run.ts';
import { type TestUpstream, startTlsUpstream } from '../helpers/upstream.ts';

const SECRET = 'sk-audit-test-SECRET-5e1f0a77';
const MiB = 1024 * 1024;
let api: TestUpstream;
let airlock: TestAirlock;
let dir: string;
let db: string;

beforeAll(async () => {
  dir = tempDir();
  const { ip, pki, up: started } = await startTlsUpstream(dir, ['api.test']);
  api = started;
  airlock = await startTestAirlock(
    `
listen:
  proxy: 127.0.0.1:0
upstream:
  ca_files: [${pki.caCert}]
  resolve: { api.test: ${ip} }
hosts:
  - match: api.test
    inject: { headers: { x-api-key: env:AUDIT_TEST_KEY } }
`,
    { AUDIT_TEST_KEY: SECRET },
    dir,
  );
  db = airlock.config.store.path;
});

afterAll(async () => {
  await airlock?.close();
  await api?.close();
});

const curl = (...args: string[]) => run('curl', ['-sS', '--cacert', airlock.caCertPath, '-x', airlock.proxyUrl, ...args]);

interface Body {
  direction: string;
  content_type: string | null;
  encoding: string | null;
  size: number;
  truncated: number;
  data: Buffer;
}

async function bodiesOfLast(pathName: string): Promise<Record<string, Body>> {
  await airlock.store.flush();
  const id = (airlock.store.db.prepare('SELECT id FROM flows WHERE path = ? ORDER BY id DESC LIMIT 1').get(pathName) as { id: number }).id;
  const rows = bodiesOf(airlock.store.db)(id) as Body[];
  return Object.fromEntries(rows.map((r) => [r.direction, r]));
}

async function flows(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runFlows([...args, '--db', db], { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

describe('bodies', () => {
  it('a JSON upload and its response are stored; the injected key echoed in the body is redacted', async () => {
    const r = await curl('-H', 'content-type: application/json', '--data', '{"hello":"world"}', 'https://api.test/echo');
    expect(JSON.parse(r.stdout).headers['x-api-key']).toMatch(/^\[redacted:injected\]/); // scrubbed on the wire too (DLP)
    const b = await bodiesOfLast('/echo');
    expect(b.request).toMatchObject({ content_type: 'application/json', encoding: null, size: 17, truncated: 0 });
    expect(b.request.data.toString()).toBe('{"hello":"world"}');
    expect(b.response).toMatchObject({ content_type: 'application/json', encoding: null, truncated: 0 });
    const stored = JSON.parse(b.response.data.toString());
    expect(stored.headers['x-api-key']).toMatch(/^\[redacted:injected\]\**$/); // padded to the key's length, as the agent got it
    expect(b.response.data.includes(SECRET)).toBe(false);
  });

  for (const coding of ['gzip', 'br']) {
    it(`a ${coding} response is stored decoded, with the echoed key redacted`, async () => {
      const r = await curl('-o', '/dev/null', '-w', '%{http_code}', `https://api.test/${coding}`);
      expect(r.stdout).toBe('200');
      const b = await bodiesOfLast(`/${coding}`);
      expect(b.request).toBeUndefined();
      expect(b.response).toMatchObject({ encoding: null, truncated: 0 });
      expect(b.response.size).toBeLessThan(b.response.data.length); // size is the compressed size on the wire
      expect(JSON.parse(b.response.data.toString()).headers['x-api-key']).toMatch(/^\[redacted:injected\]\**$/);
    });
  }

  it('3 MiB up and 3 MiB down are stored truncated at 1 MiB with their full size: the bytes sent, not the bytes stored', async () => {
    // Bytes from a fixed seed, with an email address (a DLP "log" finding, redacted in the stored
    // copy with a marker of another length) inside the stored MiB and past it, so the size must
    // count what was sent, not what was stored, on every run.
    const file = path.join(dir, 'upload.bin');
    const body = seeded(3 * MiB, 0x5eed);
    for (const at of [1000, MiB - 5000, 2 * MiB]) body.write(' jane.doe+billing@acme-corp.co.uk ', at, 'latin1');
    fs.writeFileSync(file, body);
    const up = await curl('-T', file, 'https://api.test/upload');
    expect(JSON.parse(up.stdout).bodyBytes).toBe(3 * MiB);
    const u = await bodiesOfLast('/upload');
    expect(u.request).toMatchObject({ size: 3 * MiB, truncated: 1 });
    expect(u.request.data.length).toBe(MiB);
    expect(u.request.data.toString('latin1')).toContain('[REDACTED:email-address]');
    const id = (airlock.store.db.prepare("SELECT id FROM flows WHERE path = '/upload' ORDER BY id DESC").get() as { id: number }).id;
    const found = airlock.store.db.prepare('SELECT rule_id FROM findings WHERE flow_id = ?').pluck().all(id);
    expect(found.filter((r) => r === 'email-address')).toHaveLength(3);

    const down = await curl('-o', '/dev/null', '-w', '%{size_download}', `https://api.test/bytes?n=${3 * MiB}`);
    expect(Number(down.stdout)).toBe(3 * MiB);
    const d = await bodiesOfLast('/bytes');
    expect(d.response).toMatchObject({ size: 3 * MiB, truncated: 1, content_type: 'application/octet-stream' });
    expect(d.response.data.length).toBe(MiB);
  });
});

/** `n` pseudo-random bytes from `seed` (xorshift32): the same body on every run. */
function seeded(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

describe('airlock flows', () => {
  it('list filters by host, decision, method, status and time; SQL-looking input matches nothing', async () => {
    await curl('https://denied.test/x');
    await airlock.store.flush();
    const all = await flows('list', '--limit', '1000');
    expect(all.code).toBe(0);
    const lines = all.out.trim().split('\n');
    expect(lines.length).toBe(6);
    expect((await flows('list', '--host', 'api.test')).out.trim().split('\n')).toHaveLength(5);
    expect((await flows('list', '--host', '*.test', '--decision', 'deny')).out).toMatch(/deny\s+403\s+CONNECT denied\.test:443\s+\(host_not_allowed\)$/m);
    expect((await flows('list', '--method', 'post')).out.trim().split('\n')).toHaveLength(1);
    expect((await flows('list', '--status', '4xx')).out.trim().split('\n')).toHaveLength(1);
    expect((await flows('list', '--since', '1h')).out.trim().split('\n')).toHaveLength(6);
    expect((await flows('list', '--until', '2000-01-01T00:00:00Z')).out).toBe('');
    for (const evil of ["x' OR 1=1 --", "*' OR '1'='1", 'api.test"; DROP TABLE flows; --']) {
      const r = await flows('list', '--host', evil);
      expect(r, evil).toMatchObject({ code: 0, out: '', err: '' });
    }
    // A method is an HTTP token: anything else is refused, naming the flag, before any query.
    const r = await flows('list', '--method', "GET' OR 1=1 --");
    expect(r).toMatchObject({ code: 2, out: '' });
    expect(r.err).toMatch(/--method must be an HTTP method/);
    expect((await flows('list', '--decision', "allow' OR 1=1")).code).toBe(2);
  });

  it('list pages with --limit and --after', async () => {
    const first = await flows('list', '--after', '0', '--limit', '3');
    const ids = first.out.trim().split('\n').map((l) => Number(l.trim().split(/\s+/)[0]));
    expect(ids).toHaveLength(3);
    expect(first.err).toBe(`more: --after ${ids[2]}\n`);
    const next = await flows('list', '--after', String(ids[2]), '--limit', '3');
    expect(Number(next.out.trim().split(/\s+/)[0])).toBeGreaterThan(ids[2]);
    const newest = await flows('list', '--limit', '2');
    expect(newest.out).toMatch(/denied\.test/);
  });

  it('show prints headers and bodies: text as text, binary as hex', async () => {
    const id = (airlock.store.db.prepare("SELECT id FROM flows WHERE path = '/echo'").get() as { id: number }).id;
    const r = await flows('show', String(id));
    expect(r.code).toBe(0);
    expect(r.out).toContain('POST https://api.test/echo');
    expect(r.out).toContain('x-api-key: [injected:x-api-key]');
    expect(r.out).toContain('{"hello":"world"}');
    expect(r.out).not.toContain(SECRET);
    const bin = (airlock.store.db.prepare("SELECT id FROM flows WHERE path = '/upload'").get() as { id: number }).id;
    const b = await flows('show', String(bin));
    expect(b.out).toMatch(/stored: first 1048576 bytes/);
    expect(b.out).toMatch(/^ {2}00000000 {2}[0-9a-f]{2} /m);
    expect((await flows('show', '999999')).code).toBe(1);
  });

  it('export jsonl and har parse and hold every flow', async () => {
    const jsonl = path.join(dir, 'flows.jsonl');
    const har = path.join(dir, 'flows.har');
    expect((await flows('export', '--format', 'jsonl', '--out', jsonl)).code).toBe(0);
    const records = fs.readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(records).toHaveLength(6);
    expect(records.find((r) => r.path === '/echo' && r.method === 'POST').bodies[0]).toMatchObject({ direction: 'request', text: '{"hello":"world"}' });

    expect((await flows('export', '--format', 'har', '--out', har, '--host', 'api.test')).code).toBe(0);
    const h = JSON.parse(fs.readFileSync(har, 'utf8'));
    expect(h.log.version).toBe('1.2');
    expect(h.log.creator.name).toBe('airlock');
    expect(h.log.entries).toHaveLength(5);
    const post = h.log.entries.find((e: { request: { method: string } }) => e.request.method === 'POST');
    expect(post.request).toMatchObject({ url: 'https://api.test/echo', httpVersion: 'HTTP/2', headersSize: -1, bodySize: 17 });
    expect(post.request.postData).toMatchObject({ mimeType: 'application/json', text: '{"hello":"world"}' });
    expect(post.response).toMatchObject({ status: 200, statusText: 'OK', redirectURL: '', headersSize: -1 });
    expect(post.response.content.mimeType).toBe('application/json');
    expect(JSON.parse(post.response.content.text).headers['x-api-key']).toMatch(/^\[redacted:injected\]\**$/);
    for (const e of h.log.entries) {
      expect(typeof e.startedDateTime).toBe('string');
      expect(e.timings.wait).toBeGreaterThanOrEqual(0);
      expect(Array.isArray(e.request.headers) && Array.isArray(e.request.queryString)).toBe(true);
    }
    expect(h.log.entries.find((e: { request: { url: string } }) => e.request.url.includes('/bytes')).request.queryString).toEqual([{ name: 'n', value: String(3 * MiB) }]);
  });
});

describe('the store on disk', () => {
  it('never holds the injected key; verify passes, then names a row changed behind airlock', async () => {
    await airlock.close();
    for (const f of [db, `${db}-wal`, `${db}-shm`]) {
      if (fs.existsSync(f)) expect(fs.readFileSync(f).includes(SECRET), f).toBe(false);
    }
    const ok = await flows('verify');
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^ok: 6 flows verified/);

    const raw = new Database(db);
    const id = (raw.prepare("SELECT id FROM flows WHERE path = '/gzip'").get() as { id: number }).id;
    raw.prepare('UPDATE flows SET path = ? WHERE id = ?').run('/innocent', id);
    raw.close();
    const bad = await flows('verify');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(`flow ${id}: hash mismatch (row changed after it was written)`);
  });
});
