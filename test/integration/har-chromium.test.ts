// "A HAR export of 1,000 flows validates against the HAR 1.2 structure and opens in Chromium":
// 1,000 real requests through a real airlock (undici ProxyAgent, 16 at a time) to a real HTTPS
// upstream, exported by the real CLI (`airlock flows export --format har`), checked field by
// field against HAR 1.2, then fetched and parsed by a page in Debian's Chromium.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { launchChromium, type TestChromium } from '../helpers/chromium.ts';
import { BIN } from '../helpers/cli.ts';
import { run } from '../helpers/run.ts';
import { type TestUpstream, startTlsUpstream } from '../helpers/upstream.ts';

const FLOWS = 1000;
const CONCURRENCY = 16;

let dir: string;
let api: TestUpstream | undefined;
let airlock: TestAirlock | undefined;
let agent: ProxyAgent | undefined;
let page: http.Server | undefined;
let browser: TestChromium | undefined;
let harFile: string;
/** The URLs the client requested, by request index. */
const sent: string[] = [];

/** Request i: GET /echo, a text POST to /reverse (bodies both ways) or a gzip response, in turn. */
async function one(i: number): Promise<void> {
  const kind = i % 3;
  const url = kind === 0 ? `https://har.test/echo?i=${i}&kind=get` : kind === 1 ? `https://har.test/reverse?i=${i}` : `https://har.test/gzip?i=${i}`;
  sent[i] = url;
  const res = await request(url, {
    dispatcher: agent,
    method: kind === 1 ? 'POST' : 'GET',
    headers: kind === 1 ? { 'content-type': 'text/plain; charset=utf-8' } : { accept: 'application/json' },
    body: kind === 1 ? `flow ${i} says hello to the HAR export` : undefined,
  });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`request ${i}: status ${res.statusCode}`);
}

beforeAll(async () => {
  dir = tempDir('airlock-har-');
  const { ip, pki, up: started } = await startTlsUpstream(dir, ['har.test']);
  api = started;
  airlock = await startTestAirlock(
    `
listen:
  proxy: 127.0.0.1:0
upstream:
  ca_files: [${pki.caCert}]
  resolve: { har.test: ${ip} }
hosts:
  - name: har
    match: har.test
    methods: [GET, POST]
`,
    {},
    dir,
  );
  agent = new ProxyAgent({ uri: airlock.proxyUrl, requestTls: { ca: airlock.caPem }, connections: CONCURRENCY });
  let next = 0;
  const loop = async () => {
    while (next < FLOWS) await one(next++);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  await airlock.store.flush();
  harFile = path.join(dir, 'flows.har');
}, 120_000);

afterAll(async () => {
  // Each step on its own, so one failure does not leave the others running.
  await browser?.close().catch(() => {});
  if (page) await new Promise<void>((r) => (page!.closeAllConnections(), page!.close(() => r())));
  await agent?.destroy().catch(() => {});
  await airlock?.close().catch(() => {});
  await api?.close().catch(() => {});
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/): required fields and their types.

type Obj = Record<string, unknown>;

function harProblems(har: unknown): string[] {
  const problems: string[] = [];
  const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
  const need = (o: Obj, at: string, key: string, type: 'string' | 'number' | 'object' | 'array'): unknown => {
    const v = o[key];
    const ok = type === 'array' ? Array.isArray(v) : type === 'object' ? isObj(v) : type === 'number' ? typeof v === 'number' && Number.isFinite(v) : typeof v === type;
    if (!ok) problems.push(`${at}.${key}: expected ${type}, got ${Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v}`);
    return ok ? v : undefined;
  };
  const optional = (o: Obj, at: string, key: string, type: 'string' | 'number' | 'object' | 'array') => {
    if (o[key] !== undefined) need(o, at, key, type);
  };
  const pairs = (o: Obj, at: string, key: string) => {
    const list = need(o, at, key, 'array') as unknown[] | undefined;
    list?.forEach((p, k) => {
      if (!isObj(p)) return void problems.push(`${at}.${key}[${k}]: expected object`);
      need(p, `${at}.${key}[${k}]`, 'name', 'string');
      need(p, `${at}.${key}[${k}]`, 'value', 'string');
    });
  };

  if (!isObj(har)) return ['root: expected object'];
  const log = need(har, 'root', 'log', 'object') as Obj | undefined;
  if (!log) return problems;
  if (log.version !== '1.2') problems.push(`log.version: expected "1.2", got ${JSON.stringify(log.version)}`);
  const creator = need(log, 'log', 'creator', 'object') as Obj | undefined;
  if (creator) {
    need(creator, 'log.creator', 'name', 'string');
    need(creator, 'log.creator', 'version', 'string');
  }
  optional(log, 'log', 'pages', 'array');
  const entries = (need(log, 'log', 'entries', 'array') as unknown[] | undefined) ?? [];
  entries.forEach((e, i) => {
    const at = `log.entries[${i}]`;
    if (!isObj(e)) return void problems.push(`${at}: expected object`);
    const started = need(e, at, 'startedDateTime', 'string') as string | undefined;
    if (started !== undefined && (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(started) || Number.isNaN(Date.parse(started)))) {
      problems.push(`${at}.startedDateTime: not ISO 8601: ${started}`);
    }
    const time = need(e, at, 'time', 'number') as number | undefined;
    optional(e, at, 'pageref', 'string');

    const req = need(e, at, 'request', 'object') as Obj | undefined;
    if (req) {
      const r = `${at}.request`;
      need(req, r, 'method', 'string');
      const url = need(req, r, 'url', 'string') as string | undefined;
      if (url !== undefined && !URL.canParse(url)) problems.push(`${r}.url: not an absolute URL: ${url}`);
      need(req, r, 'httpVersion', 'string');
      need(req, r, 'cookies', 'array');
      pairs(req, r, 'headers');
      pairs(req, r, 'queryString');
      need(req, r, 'headersSize', 'number');
      need(req, r, 'bodySize', 'number');
      if (req.postData !== undefined) {
        const pd = need(req, r, 'postData', 'object') as Obj | undefined;
        if (pd) {
          need(pd, `${r}.postData`, 'mimeType', 'string');
          if (pd.params !== undefined) pairs(pd, `${r}.postData`, 'params');
          else need(pd, `${r}.postData`, 'text', 'string');
        }
      }
    }

    const res = need(e, at, 'response', 'object') as Obj | undefined;
    if (res) {
      const r = `${at}.response`;
      need(res, r, 'status', 'number');
      need(res, r, 'statusText', 'string');
      need(res, r, 'httpVersion', 'string');
      need(res, r, 'cookies', 'array');
      pairs(res, r, 'headers');
      const content = need(res, r, 'content', 'object') as Obj | undefined;
      if (content) {
        need(content, `${r}.content`, 'size', 'number');
        need(content, `${r}.content`, 'mimeType', 'string');
        optional(content, `${r}.content`, 'text', 'string');
        optional(content, `${r}.content`, 'encoding', 'string');
        optional(content, `${r}.content`, 'compression', 'number');
      }
      need(res, r, 'redirectURL', 'string');
      need(res, r, 'headersSize', 'number');
      need(res, r, 'bodySize', 'number');
    }

    const cache = need(e, at, 'cache', 'object') as Obj | undefined;
    if (cache) for (const k of ['beforeRequest', 'afterRequest'] as const) if (cache[k] !== undefined && cache[k] !== null) need(cache, `${at}.cache`, k, 'object');

    const timings = need(e, at, 'timings', 'object') as Obj | undefined;
    if (timings) {
      let sum = 0;
      for (const k of ['send', 'wait', 'receive'] as const) {
        const v = need(timings, `${at}.timings`, k, 'number') as number | undefined;
        if (v !== undefined && v < 0) problems.push(`${at}.timings.${k}: negative (${v})`);
        sum += v ?? 0;
      }
      for (const k of ['blocked', 'dns', 'connect', 'ssl'] as const) {
        if (timings[k] === undefined) continue;
        const v = need(timings, `${at}.timings`, k, 'number') as number | undefined;
        if (v !== undefined && v !== -1 && v < 0) problems.push(`${at}.timings.${k}: must be -1 or >= 0 (${v})`);
        if (v !== undefined && v > 0 && k !== 'ssl') sum += v; // ssl is part of connect
      }
      // HAR 1.2: time is the sum of the available timings.
      if (time !== undefined && Math.abs(time - sum) > 0.01) problems.push(`${at}.time: ${time} is not the sum of its timings (${sum})`);
    }
  });
  return problems;
}

// ---------------------------------------------------------------------------------------------

/** A page that fetches the HAR file and checks it with the browser's own JSON.parse. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>airlock HAR check</title>
<script>
window.harCheck = fetch('/flows.har')
  .then((r) => r.text())
  .then((text) => {
    const har = JSON.parse(text);
    const entries = har.log.entries;
    const bad = entries.filter((e) => !(e.request && typeof e.request.url === 'string' && e.request.url.length > 0
      && e.response && typeof e.response.status === 'number'));
    return {
      version: har.log.version,
      entries: entries.length,
      withoutUrlOrStatus: bad.length,
      ok: entries.length === ${FLOWS} && bad.length === 0,
      statuses: [...new Set(entries.map((e) => e.response.status))],
      bytes: text.length,
    };
  }, (err) => ({ ok: false, error: String(err) }));
</script>
<p>airlock HAR check</p>`;

describe(`HAR export of ${FLOWS} flows`, () => {
  it(`the store holds the ${FLOWS} flows`, () => {
    const n = (airlock!.store.db.prepare("SELECT count(*) AS n FROM flows WHERE decision = 'allow' AND status = 200").get() as { n: number }).n;
    expect(n).toBe(FLOWS);
  });

  it('`airlock flows export --format har` writes a HAR 1.2 file with every flow', async () => {
    const r = await run(process.execPath, [BIN, 'flows', 'export', '--format', 'har', '--out', harFile, '--db', airlock!.config.store.path]);
    expect(r.stderr).toBe(`exported ${FLOWS} flows to ${harFile}\n`);
    expect(r.code).toBe(0);
    expect(fs.statSync(harFile).mode & 0o777).toBe(0o600);

    const har = JSON.parse(fs.readFileSync(harFile, 'utf8'));
    expect(harProblems(har).slice(0, 20)).toEqual([]);
    const entries = har.log.entries as Obj[];
    expect(entries).toHaveLength(FLOWS);
    // Every request the client made is there once, with its method and status.
    const urls = entries.map((e) => (e.request as Obj).url as string);
    expect(new Set(urls).size).toBe(FLOWS);
    expect([...urls].sort()).toEqual([...sent].sort());
    // Bodies both ways: the /reverse POSTs carry postData and the reversed text.
    const post = entries.find((e) => (e.request as Obj).method === 'POST') as Obj;
    const postData = (post.request as Obj).postData as Obj;
    expect(postData.mimeType).toBe('text/plain; charset=utf-8');
    const said = postData.text as string;
    expect(((post.response as Obj).content as Obj).text).toBe([...said].reverse().join(''));
    // The gzip responses are stored decoded.
    const gz = entries.find((e) => ((e.request as Obj).url as string).includes('/gzip')) as Obj;
    expect(JSON.parse(((gz.response as Obj).content as Obj).text as string)).toMatchObject({ method: 'GET' });
  });

  it('opens in Chromium: a page fetches it, JSON.parse reads 1,000 entries with url and status', async () => {
    expect(fs.existsSync(harFile)).toBe(true);
    page = http.createServer((req, res) => {
      if (req.url === '/') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      if (req.url === '/flows.har') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void fs.createReadStream(harFile).pipe(res);
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => page!.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;

    browser = await launchChromium();
    try {
      const tab = await browser.context.newPage();
      const nav = await tab.goto(`${origin}/`, { waitUntil: 'load', timeout: 30_000 });
      expect(nav?.status()).toBe(200);
      const result = (await tab.evaluate('window.harCheck')) as Obj;
      expect(result).toMatchObject({ ok: true, version: '1.2', entries: FLOWS, withoutUrlOrStatus: 0, statuses: [200] });
      expect(result.bytes).toBe(fs.statSync(harFile).size);
    } finally {
      await browser.close();
    }
  });
});
