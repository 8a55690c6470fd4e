// The web UI over HTTP, as a browser would speak to it but without one (the Chromium test is
// ui-chromium.test.ts): a real airlock, a real upstream, real curl traffic, the real listener.
// Auth (login form, session cookie, roles, revocation), CSRF and cross-site refusals, the CSP,
// escaping of stored payloads, filters as values, pages, exports, the CA, live updates, and the
// proof that the UI is never reachable through the proxy.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterOf } from '../../proxy/flow-filter.ts';
import { searchFlows } from '../../proxy/store/search.ts';
import { selectFlows } from '../../proxy/store/sqlite-queries.ts';
import { sqliteReader } from '../../proxy/store/sqlite-reader.ts';
import { Sessions } from '../../web-ui/sessions.ts';
import { addToken, revokeToken, UiTokens } from '../../web-ui/tokens.ts';
import { createUi } from '../../web-ui/ui.tsx';
import { run } from '../helpers/run.ts';
import { cookieOf, csrfOf, setCookieLine, uiGet, uiLogin, uiPost, uiRequest, type UiSession } from '../helpers/ui.ts';
import { addFinding, DLP_KEY, flowIdWhere, makeTraffic, SECRET, startUiFixture, type UiFixture, XSS, XSS_URL } from '../helpers/ui-fixture.ts';

let fx: UiFixture;
let admin: UiSession;

beforeAll(async () => {
  fx = await startUiFixture();
  await makeTraffic(fx);
  admin = await uiLogin(fx.base, fx.token);
}, 120_000);

afterAll(async () => {
  await fx?.close();
});

describe('authentication', () => {
  it('sends every page to the login form without a session, and serves only the static files', async () => {
    for (const path of ['/', '/flows', '/flows/1', '/hosts', '/findings', '/stats', '/policy', '/ca', '/ca/airlock-ca.pem', '/export?format=har', '/nothing']) {
      const r = await uiRequest(`${fx.base}${path}`);
      expect(r.status, path).toBe(303);
      expect(r.headers.location, path).toBe(`/login?next=${encodeURIComponent(path)}`);
      expect(r.text, path).not.toContain('api.test');
    }
    const live = await uiRequest(`${fx.base}/flows/live`);
    expect(live.status).toBe(403);
    const post = await uiRequest(`${fx.base}/policy/reload`, { headers: { origin: fx.base }, form: { csrf: 'x' } });
    expect(post.status).toBe(403);
    expect((await uiRequest(`${fx.base}/static/ui.css`)).status).toBe(200);
    expect((await uiRequest(`${fx.base}/static/ui.js`)).status).toBe(200);
    // A made-up or expired session cookie is no session.
    const forged = await uiRequest(`${fx.base}/flows`, { headers: { cookie: `airlock_session=${crypto.randomBytes(32).toString('base64url')}` } });
    expect(forged.status).toBe(303);
  });

  it('logs in with the first-start token: HttpOnly, SameSite=Strict session cookie (not Secure over plain HTTP)', async () => {
    const form = await uiRequest(`${fx.base}/login?next=/hosts`);
    expect(form.status).toBe(200);
    expect(form.text).toContain('type="password"');
    const login = cookieOf(form, 'airlock_login')!;
    expect(setCookieLine(form, 'airlock_login')).toMatch(/HttpOnly/);
    const r = await uiRequest(`${fx.base}/login`, {
      headers: { cookie: `airlock_login=${login}`, origin: fx.base },
      form: { csrf: csrfOf(form.text), token: fx.token, next: '/hosts' },
    });
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/hosts');
    const line = setCookieLine(r, 'airlock_session')!;
    expect(line).toMatch(/; HttpOnly/);
    expect(line).toMatch(/; SameSite=Strict/);
    expect(line).toMatch(/; Path=\//);
    expect(line).not.toMatch(/Secure/);
    expect(line).not.toMatch(/Max-Age|Expires/); // a browser-session cookie; the server ends sessions
    const page = await uiRequest(`${fx.base}/hosts`, { headers: { cookie: `airlock_session=${cookieOf(r, 'airlock_session')}` } });
    expect(page.status).toBe(200);
    expect(page.text).toContain('api.test');
    expect(page.text).toContain('initial');
  });

  it('refuses a wrong token, a missing login form token, and an open redirect', async () => {
    const form = await uiRequest(`${fx.base}/login`);
    const login = cookieOf(form, 'airlock_login')!;
    const csrf = csrfOf(form.text);
    const wrong = await uiRequest(`${fx.base}/login`, { headers: { cookie: `airlock_login=${login}`, origin: fx.base }, form: { csrf, token: 'not-the-token' } });
    expect(wrong.status).toBe(403);
    expect(wrong.text).toContain('That token is not valid');
    expect(cookieOf(wrong, 'airlock_session')).toBeUndefined();
    const noCookie = await uiRequest(`${fx.base}/login`, { headers: { origin: fx.base }, form: { csrf, token: fx.token } });
    expect(noCookie.status).toBe(403);
    expect(cookieOf(noCookie, 'airlock_session')).toBeUndefined();
    const form2 = await uiRequest(`${fx.base}/login`);
    for (const next of ['//evil.example/', 'https://evil.example/', '/\\evil.example']) {
      const f = await uiRequest(`${fx.base}/login`);
      const r = await uiRequest(`${fx.base}/login`, {
        headers: { cookie: `airlock_login=${cookieOf(f, 'airlock_login')}`, origin: fx.base },
        form: { csrf: csrfOf(f.text), token: fx.token, next },
      });
      expect(r.status, next).toBe(303);
      expect(r.headers.location, next).toBe('/flows');
    }
    expect(form2.status).toBe(200);
  });

  it('logs out: the session is gone on the server', async () => {
    const s = await uiLogin(fx.base, fx.token);
    expect((await uiGet(s, '/flows')).status).toBe(200);
    const out = await uiPost(s, '/logout');
    expect(out.status).toBe(303);
    expect(out.headers.location).toBe('/login');
    expect((await uiGet(s, '/flows')).status).toBe(303);
  });

  it('throttles failed logins per client address', async () => {
    // Its own UI instance: the shared listener must keep letting this test file log in.
    const ui = createUi({ reader: sqliteReader(() => fx.airlock.store.db), tokens: new UiTokens(fx.airlock.config.dataDir), sessions: new Sessions() });
    const attempt = async (token: string) => {
      const form = await ui.request('/login');
      const login = /airlock_login=([^;]+)/.exec(form.headers.get('set-cookie')!)![1];
      return ui.request('/login', {
        method: 'POST',
        headers: { cookie: `airlock_login=${login}`, origin: 'http://localhost', 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf: csrfOf(await form.text()), token }).toString(),
      });
    };
    for (let i = 0; i < 10; i++) expect((await attempt(`wrong-${i}`)).status).toBe(403);
    const blocked = await attempt(fx.token);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('cross-site requests and CSRF', () => {
  it('refuses a state-changing request from another origin, without an origin, or without the CSRF token', async () => {
    const cases: [string, Record<string, string>, Record<string, string>][] = [
      ['wrong Origin', { origin: 'http://evil.example' }, {}],
      ['another port of the same host', { origin: `http://127.0.0.1:${fx.uiPort + 1}` }, {}],
      ['no Origin and no Sec-Fetch-Site', { origin: '', 'sec-fetch-site': '' }, {}],
      ['Sec-Fetch-Site cross-site', { origin: '', 'sec-fetch-site': 'cross-site' }, {}],
      ['Sec-Fetch-Site same-site', { 'sec-fetch-site': 'same-site' }, {}],
      ['no CSRF token', {}, { csrf: '' }],
      ['a wrong CSRF token', {}, { csrf: crypto.randomBytes(32).toString('base64url') }],
    ];
    for (const [name, headers, form] of cases) {
      const h = Object.fromEntries(Object.entries({ cookie: admin.cookie, origin: admin.base, 'sec-fetch-site': 'same-origin', ...headers }).filter(([, v]) => v !== ''));
      const body = { csrf: admin.csrf, ...form };
      if (body.csrf === '') delete (body as Record<string, string>).csrf;
      const r = await uiRequest(`${fx.base}/policy/reload`, { headers: h, form: body });
      expect(r.status, name).toBe(403);
      expect(r.text, name).toMatch(/Cross-site request refused|not from this session/);
    }
    // The same request, same-origin with the token, goes through.
    const ok = await uiPost(admin, '/policy/reload');
    expect(ok.status).toBe(303);
  });

  it('the CSRF token of one session is no good in another', async () => {
    const other = await uiLogin(fx.base, fx.token);
    const r = await uiPost(other, '/policy/reload', { csrf: admin.csrf });
    expect(r.status).toBe(403);
  });

  it('refuses cross-site subresource requests even with a cookie, but lets a link from elsewhere navigate', async () => {
    for (const site of ['cross-site', 'same-site']) {
      const r = await uiGet(admin, '/flows', { 'sec-fetch-site': site, 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' });
      expect(r.status, site).toBe(403);
      const e = await uiGet(admin, '/export?format=jsonl', { 'sec-fetch-site': site, 'sec-fetch-mode': 'cors' });
      expect(e.status, site).toBe(403);
    }
    const nav = await uiGet(admin, '/flows', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' });
    expect(nav.status).toBe(200);
  });

  it('answers only to an IP address or localhost (DNS rebinding), pages and API alike', async () => {
    const port = new URL(admin.base).port;
    for (const [host, status] of [
      [`rebind.attacker.example:${port}`, '421'],
      [`localhost:${port}`, '200'],
      [`127.0.0.1:${port}`, '200'],
    ]) {
      for (const p of ['/flows', '/api/flows']) {
        const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', `host: ${host}`, '-H', `cookie: ${admin.cookie}`, '-H', `authorization: Bearer ${fx.token}`, `${admin.base}${p}`]);
        expect(r.stdout, `${host}${p}`).toBe(status);
      }
    }
  });
});

describe('headers and CSP', () => {
  it('every page has a CSP with a fresh nonce and no unsafe-inline; the one script carries that nonce', async () => {
    const nonces = new Set<string>();
    for (const path of ['/flows', '/hosts', '/stats', '/policy', '/ca', '/findings', `/flows/${flowIdWhere(fx, "path = '/echo'")}`]) {
      const r = await uiGet(admin, path);
      expect(r.status, path).toBe(200);
      const csp = String(r.headers['content-security-policy']);
      expect(csp, path).toMatch(/^default-src 'none'; script-src 'nonce-[A-Za-z0-9+/]{24}'; style-src 'self'; img-src 'self' data:;/);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("require-trusted-types-for 'script'");
      expect(csp).not.toContain('unsafe');
      const nonce = /'nonce-([^']+)'/.exec(csp)![1];
      nonces.add(nonce);
      const scripts = [...r.text.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
      expect(scripts, path).toEqual([`<script nonce="${nonce}" src="/static/ui.js" defer="">`]);
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.headers['x-frame-options']).toBe('DENY');
      expect(r.headers['cache-control']).toBe('no-store');
      expect(r.headers['referrer-policy']).toBe('same-origin');
    }
    expect(nonces.size).toBe(7);
  });

  it('downloads are attachments under a sandbox CSP', async () => {
    for (const path of ['/export?format=jsonl', '/ca/airlock-ca.pem', `/flows/${flowIdWhere(fx, "path = '/upload'")}/body/request`]) {
      const r = await uiGet(admin, path);
      expect(r.status, path).toBe(200);
      expect(r.headers['content-disposition'], path).toMatch(/^attachment; filename="/);
      expect(r.headers['content-security-policy'], path).toBe("default-src 'none'; sandbox; frame-ancestors 'none'");
    }
  });
});

describe('roles', () => {
  it('an auditor token reads everything but cannot reload or run retention; revoking it ends its session and its API access', async () => {
    const { token, entry } = addToken(fx.airlock.config.dataDir, 'alice', 'auditor');
    expect(fs.readFileSync(`${fx.airlock.config.dataDir}/ui-tokens.json`, 'utf8')).not.toContain(token);
    expect(fs.statSync(`${fx.airlock.config.dataDir}/ui-tokens.json`).mode & 0o777).toBe(0o600);
    const alice = await uiLogin(fx.base, token); // added while airlock runs: no restart
    for (const path of ['/flows', '/hosts', '/findings', '/stats', '/policy', '/ca', '/export?format=jsonl']) expect((await uiGet(alice, path)).status, path).toBe(200);
    const policy = await uiGet(alice, '/policy');
    expect(policy.text).toContain('alice');
    expect(policy.text).toContain('auditor');
    expect(policy.text).not.toContain('action="/policy/reload"');
    expect(policy.text).not.toContain('action="/retention"');
    for (const path of ['/policy/reload', '/retention']) {
      const r = await uiPost(alice, path);
      expect(r.status, path).toBe(403);
      expect(r.text).toContain('admin role');
    }
    const api = await request(`${fx.base}/api/flows?limit=1`, { headers: { authorization: `Bearer ${token}` } });
    expect(api.statusCode).toBe(200);
    await api.body.dump();

    expect(revokeToken(fx.airlock.config.dataDir, entry.name)).toBe(true);
    expect((await uiGet(alice, '/flows')).status).toBe(303);
    const gone = await request(`${fx.base}/api/flows?limit=1`, { headers: { authorization: `Bearer ${token}` } });
    expect(gone.statusCode).toBe(401);
    await gone.body.dump();
  });

  it('an admin reloads the policy (a new rule shows) and a broken policy is reported and not applied', async () => {
    fs.writeFileSync(fx.policyFile, fx.policyWith('  - match: blocked.test\n    name: added-rule\n    methods: [HEAD]\n'));
    let r = await uiPost(admin, '/policy/reload');
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/policy');
    let page = await uiGet(admin, '/policy');
    expect(page.text).toContain('Policy reloaded: 4 host rules in force.');
    expect(page.text).toContain('added-rule');
    expect(page.text).toContain('allows HEAD to blocked.test on port 443');
    // The message shows once.
    expect((await uiGet(admin, '/policy')).text).not.toContain('Policy reloaded');

    fs.writeFileSync(fx.policyFile, fx.policyWith('  - match: "*"\n'));
    r = await uiPost(admin, '/policy/reload');
    page = await uiGet(admin, '/policy');
    expect(page.text).toContain('The policy file has problems; the policy in force stays');
    expect(page.text).toContain('would allow every host');
    expect(page.text).toContain('id="rule-added-rule"'); // the policy in force stayed

    // And the proxy obeys the policy the page shows: blocked.test is now allowed (HEAD) by the new rule.
    await fx.curl('-I', 'https://blocked.test/reloaded');
    await fx.airlock.store.flush();
    expect(fx.airlock.store.db.prepare("SELECT rule_id FROM flows WHERE path = '/reloaded'").get()).toEqual({ rule_id: 'added-rule' });

    fs.writeFileSync(fx.policyFile, fx.policy);
    await uiPost(admin, '/policy/reload');
    expect((await uiGet(admin, '/policy')).text).not.toContain('id="rule-added-rule"');
  });

  it('an admin runs retention now', async () => {
    const r = await uiPost(admin, '/retention');
    expect(r.status).toBe(303);
    const page = await uiGet(admin, '/policy');
    expect(page.text).toMatch(/Retention ran: 0 flows deleted; the store now uses [\d.]+ MiB/);
    expect(page.text).toContain('flows older than 30d are deleted');
  });
});

describe('stored content is text, never markup', () => {
  it('XSS payloads in a URL, a header, a body and an agent name come out escaped on every page', async () => {
    const id = flowIdWhere(fx, "path LIKE '/reverse/%'");
    const agentFlow = flowIdWhere(fx, 'agent_user IS NOT NULL');
    const jsonFlow = flowIdWhere(fx, "host = 'api.test' AND path = '/echo' AND method = 'POST' AND query IS NULL");
    const pages = ['/flows', `/flows/${id}`, `/flows/${agentFlow}`, `/flows/${jsonFlow}`, '/hosts', `/flows?text=${encodeURIComponent('window')}`];
    for (const path of pages) {
      const r = await uiGet(admin, path);
      expect(r.status, path).toBe(200);
      // No payload became markup: no such element, no event-handler attribute in any tag.
      expect(r.text, path).not.toMatch(/<script>window|<img src=x|<svg\/onload|<[^>]+\son(error|load)=/i);
    }
    const detail = (await uiGet(admin, `/flows/${id}`)).text;
    expect(detail).toContain('&lt;script&gt;window.__xss=1;alert(1)&lt;/script&gt;'); // header and body
    expect(detail).toContain('&lt;svg/onload=window.__xss=4&gt;'); // the URL
    expect((await uiGet(admin, `/flows/${agentFlow}`)).text).toContain('&lt;script&gt;window.__xss=3&lt;/script&gt;'); // agent name
    expect(XSS_URL).toContain('<svg/onload');
    expect(XSS).toContain('<script>');
  });

  it('a finding preview is escaped and highlighted; the live list sends escaped rows', async () => {
    const id = flowIdWhere(fx, "host = 'api.test' AND path = '/echo' AND method = 'POST' AND query IS NULL");
    addFinding(fx, id, { rule_id: 'xss-test-rule', location: 'request body@3', action: 'log', preview: '<b>sk-a…</b><script>window.__xss=9</script>' });
    const detail = (await uiGet(admin, `/flows/${id}`)).text;
    expect(detail).toContain('<mark>&lt;b&gt;sk-a…&lt;/b&gt;&lt;script&gt;window.__xss=9&lt;/script&gt;</mark>');
    expect(detail).not.toContain('<script>window.__xss=9');
  });

  it('never shows an injected key or a key DLP caught; the injected header is named', async () => {
    const id = flowIdWhere(fx, "path = '/echo' AND query = 'q=wombat'");
    const detail = (await uiGet(admin, `/flows/${id}`)).text;
    expect(detail).toContain('[injected:x-api-key]');
    expect(detail).toMatch(/Injected headers<\/th><td class="mono">x-api-key</);
    const dlp = flowIdWhere(fx, "query = 'dlp=1'");
    for (const path of ['/flows', `/flows/${id}`, `/flows/${dlp}`, '/findings', '/export?format=jsonl', '/export?format=har', `/flows?text=${encodeURIComponent('sk-ant-api03')}`]) {
      const t = (await uiGet(admin, path)).text;
      expect(t, path).not.toContain(SECRET);
      expect(t, path).not.toContain(DLP_KEY.slice(13, 40));
    }
  });
});

describe('filters are values', () => {
  it('SQL- and FTS-looking filters match nothing and break nothing', async () => {
    for (const q of [
      `host=${encodeURIComponent("x' OR 1=1 --")}`,
      `rule=${encodeURIComponent("api' OR '1'='1")}`,
      `agent=${encodeURIComponent('1; DROP TABLE flows')}`,
      `text=${encodeURIComponent('" OR 1=1 NEAR(a b) *')}`,
      `path=${encodeURIComponent("%' --")}`,
    ]) {
      const r = await uiGet(admin, `/flows?${q}`);
      expect(r.status, q).toBe(200);
      expect(r.text, q).toContain('No flows match.');
      expect(r.text, q).not.toContain('data-id=');
    }
    const bad = await uiGet(admin, '/flows?status=abc&since=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('Filter not applied');
    expect(bad.text).toContain('No flows match.');
    const all = (fx.airlock.store.db.prepare('SELECT count(*) AS n FROM flows').get() as { n: number }).n;
    expect(all).toBeGreaterThanOrEqual(11);
  });

  it('junk filter values and cursors are a 400 that names the field, on every page', async () => {
    const cases: [string, RegExp][] = [
      ['/flows?since=junk+2001', /since: &quot;junk 2001&quot; is not an ISO time/],
      ['/flows?until=2025-02-30', /until: /],
      ['/flows?status=600', /status must be/],
      ['/flows?decision=ALLOW', /decision must be one of/],
      ['/flows?method=GET%27+OR+%27a%27%3D%27a', /method must be an HTTP method/],
      ['/flows?before=abc', /before must be a whole number/],
      ['/flows?after=-1', /after must be a whole number/],
      ['/flows?before=1&after=2', /before and after cannot be given together/],
      ['/hosts?since=yesterday', /since: /],
      ['/findings?before=x', /before must be a whole number/],
      ['/stats?until=soon', /until: /],
      ['/export?format=har&limit=abc', /limit must be a whole number/],
      ['/export?format=jsonl&since=junk', /since: /],
    ];
    for (const [url, message] of cases) {
      const r = await uiGet(admin, url);
      expect(r.status, url).toBe(400);
      expect(r.text, url).toMatch(message);
    }
    const live = await uiGet(admin, '/flows/live?after=1.5');
    expect(live.status).toBe(400);
    expect(live.text).toMatch(/^after must be a whole number/);
    // Empty form fields are absent, not errors.
    expect((await uiGet(admin, '/flows?since=&status=&before=')).status).toBe(200);
  });

  it('the UI\'s index-driven walk finds exactly what `airlock flows list` finds', () => {
    const db = fx.airlock.store.db;
    const ids = (rows: { id: number }[]) => rows.map((r) => r.id);
    const filters = [{}, { text: 'echo' }, { text: 'api.test', decision: 'allow' }, { text: 'echo', host: 'api.test' }, { text: 'wombat' }, { text: '"' }, { host: '*.test' }, { decision: 'deny' }];
    for (const o of filters) {
      const f = filterOf(o);
      for (const limit of [1, 3, 500]) {
        const label = `${JSON.stringify(o)} limit ${limit}`;
        expect(ids(selectFlows(db, f, { order: 'DESC', limit, columns: 'flows.id AS id' })).reverse(), label).toEqual(ids(searchFlows(db, f, limit, 'id')));
        for (const after of [0, 3, 7]) {
          expect(ids(selectFlows(db, f, { after, order: 'ASC', limit, columns: 'flows.id AS id' })), `${label} after ${after}`).toEqual(ids(searchFlows(db, { ...f, after }, limit, 'id')));
        }
      }
    }
  });

  it('filters by host and decision, pages with cursors, and exports the current filter', async () => {
    const r = await uiGet(admin, '/flows?host=other.test&decision=deny');
    const ids = [...r.text.matchAll(/<tr data-id="(\d+)"/g)].map((m) => Number(m[1]));
    expect(ids).toHaveLength(1);
    expect(r.text).toContain('href="/export?host=other.test&amp;decision=deny&amp;format=har"');
    const har = JSON.parse((await uiGet(admin, '/export?host=other.test&decision=deny&format=har')).text);
    expect(har.log.entries).toHaveLength(1);
    expect(har.log.entries[0]._airlock).toMatchObject({ decision: 'deny', code: 'method_not_allowed', rule: 'other' });

    // Pages of 50: make sure there is more than one page, then walk them all, newest first.
    const before = (fx.airlock.store.db.prepare('SELECT count(*) AS n FROM flows').get() as { n: number }).n;
    await Promise.all(Array.from({ length: 60 - Math.min(before, 60) + 5 }, (_, i) => fx.curl(`https://blocked.test/page-${i}`)));
    await fx.airlock.store.flush();
    const total = (fx.airlock.store.db.prepare('SELECT count(*) AS n FROM flows').get() as { n: number }).n;
    const seen: number[] = [];
    let path = '/flows';
    for (let i = 0; i < 10 && path; i++) {
      const p = (await uiGet(admin, path)).text;
      seen.push(...[...p.matchAll(/<tr data-id="(\d+)"/g)].map((m) => Number(m[1])));
      const older = /<a rel="next" href="([^"]+)"/.exec(p);
      path = older ? older[1].replace(/&amp;/g, '&') : '';
    }
    expect(seen).toHaveLength(total);
    expect(seen).toEqual([...seen].sort((a, b) => b - a));
    // ...and back: "Newer" from the oldest page shows the page before it.
    const oldest = Math.min(...seen);
    const back = (await uiGet(admin, `/flows?after=${oldest}`)).text;
    expect([...back.matchAll(/<tr data-id="(\d+)"/g)].map((m) => Number(m[1]))).toEqual(seen.slice(-51, -1));
  });
});

describe('pages', () => {
  it('explains a denied flow: the closest rule and the reason in plain words', async () => {
    const id = flowIdWhere(fx, "host = 'other.test' AND decision = 'deny'");
    const t = (await uiGet(admin, `/flows/${id}`)).text;
    expect(t).toContain('Denied by the policy: nothing was sent upstream.');
    expect(t).toContain('method_not_allowed');
    expect(t).toContain('it does not allow this HTTP method');
    expect(t).toContain('was the closest rule: it allows GET to other.test on port 443');
    const host = (await uiGet(admin, `/flows/${flowIdWhere(fx, "host = 'blocked.test' AND decision = 'deny'")}`)).text;
    expect(host).toContain('No rule in the policy names this host');
  });

  it('explains a flow DLP blocked: the code in plain words, the rule described, the finding masked and in place', async () => {
    const id = flowIdWhere(fx, "query = 'dlp=1'");
    const t = (await uiGet(admin, `/flows/${id}`)).text;
    expect(t).toContain('Stopped by DLP (data loss prevention)');
    expect(t).toMatch(/Rule <a class="mono" href="\/policy#rule-api">api<\/a> allowed it: it allows any method to api\.test[^<]*; DLP stopped it all the same\./);
    expect(t).toContain('<span class="mono">dlp_blocked</span>: A DLP rule whose action is &quot;block&quot; found a secret');
    expect(t).toContain('DLP: 1 finding (anthropic-api-key → block).');
    expect(t).toMatch(/<tr class="hit"><td class="mono"><a href="\/findings\?rule_id=anthropic-api-key">anthropic-api-key<\/a><\/td><td>Anthropic API key \(sk-ant-api03-…\)<\/td><td class="mono">request body@\d+<\/td><td>block<\/td><td class="mono"><mark>sk-a…AA\(108\)<\/mark>/);
    // In place: in the request's section too.
    expect(t.slice(t.indexOf('id="request-h"'))).toContain('<mark>sk-a…AA(108)</mark>');
    const findings = (await uiGet(admin, '/findings')).text;
    expect(findings).toContain('<td>Anthropic API key (sk-ant-api03-…)</td>');
    const withFinding = (await uiGet(admin, '/flows?has_finding=1')).text;
    expect(withFinding).toContain(`data-id="${id}"`);
    const policy = (await uiGet(admin, '/policy')).text;
    expect(policy).toContain('Enforced: each rule’s action below applies');
    expect(policy).toMatch(/<tr id="dlp-anthropic-api-key"><td class="mono"><a href="\/findings\?rule_id=anthropic-api-key">anthropic-api-key<\/a><\/td><td>Anthropic<\/td><td title="Format: https:\/\/docs\.anthropic\.com\/[^"]*">Anthropic API key \(sk-ant-api03-…\)<\/td><td>critical<\/td><td>block<\/td>/);
  });

  it('renders bodies by type: JSON tree, form table, hex, inline image, text', async () => {
    const json = (await uiGet(admin, `/flows/${flowIdWhere(fx, "host = 'api.test' AND path = '/echo' AND method = 'POST' AND query IS NULL")}`)).text;
    expect(json).toMatch(/class="bodyview kind-json"[\s\S]*<details open="">/);
    expect(json).toContain('<span class="k">&quot;nested&quot;</span>');
    const form = (await uiGet(admin, `/flows/${flowIdWhere(fx, "path = '/reverse'")}`)).text;
    expect(form).toContain('kind-form');
    expect(form).toContain('<td>platypus</td>');
    const bin = (await uiGet(admin, `/flows/${flowIdWhere(fx, "path = '/upload' AND request_headers LIKE '%octet-stream%'")}`)).text;
    expect(bin).toContain('kind-hex');
    expect(bin).toContain('00000000  00 01 02 ff fe 7f 80 00');
    const png = (await uiGet(admin, `/flows/${flowIdWhere(fx, "path = '/upload' AND request_headers LIKE '%image/png%'")}`)).text;
    expect(png).toMatch(/<img class="body" alt="request body image \(image\/png, 70 B\)" src="data:image\/png;base64,iVBORw0KGgo/);
    const html = (await uiGet(admin, `/flows/${flowIdWhere(fx, "path LIKE '/reverse/%'")}`)).text;
    expect(html).toContain('kind-text');
  });

  it('shows LLM fields', async () => {
    const t = (await uiGet(admin, `/flows/${flowIdWhere(fx, "path = '/v1/messages'")}`)).text;
    expect(t).toContain('LLM call');
    expect(t).toContain('claude-sonnet-4-5-20250929');
    expect(t).toMatch(/472 in, 89 out/);
    expect(t).toContain('get_weather');
  });

  it('hosts, findings, stats with plots, and the CA page', async () => {
    const hosts = (await uiGet(admin, '/hosts')).text;
    expect(hosts).toMatch(/blocked\.test<\/a><\/td><td><span class="muted">not in the policy/);
    expect(hosts).toContain('href="/policy#rule-api"');
    const findings = (await uiGet(admin, '/findings')).text;
    expect(findings).toContain('xss-test-rule');
    const stats = (await uiGet(admin, '/stats')).text;
    expect(stats).toMatch(/<svg class="chart"[^>]*aria-label="Flows per 1 minute by decision/);
    expect(stats).toMatch(/<rect class="allow"/);
    expect(stats).toMatch(/<rect class="deny"/);
    expect(stats).toContain('Latency of completed flows');
    // One bar per minute: the tooltips of the requests chart add up to every flow, in a few minutes.
    const chart = /aria-label="Flows per 1 minute by decision[\s\S]*?<\/svg>/.exec(stats)![0];
    const tips = [...chart.matchAll(/<title>[^<]* UTC: allow (\d+), deny (\d+), refuse (\d+), error (\d+)<\/title>/g)];
    const total = (fx.airlock.store.db.prepare('SELECT count(*) AS n FROM flows').get() as { n: number }).n;
    expect(tips.reduce((n, m) => n + Number(m[1]) + Number(m[2]) + Number(m[3]) + Number(m[4]), 0)).toBe(total);
    expect(tips.length).toBeLessThanOrEqual(3);
    const ca = (await uiGet(admin, '/ca')).text;
    const cert = new crypto.X509Certificate(fs.readFileSync(fx.airlock.caCertPath));
    expect(ca).toContain(cert.fingerprint256);
    for (const words of ['update-ca-certificates', 'update-ca-trust extract', 'NODE_EXTRA_CA_CERTS', 'REQUESTS_CA_BUNDLE', 'curl --cacert', 'http.sslCAInfo', 'keytool -importcert']) {
      expect(ca).toContain(words);
    }
    const pem = await uiGet(admin, '/ca/airlock-ca.pem');
    expect(pem.text).toBe(fs.readFileSync(fx.airlock.caCertPath, 'utf8'));
    const der = await request(`${fx.base}/ca/airlock-ca.der`, { headers: { cookie: admin.cookie } });
    expect(Buffer.from(await der.body.arrayBuffer()).equals(cert.raw)).toBe(true);
  });
});

describe('live list', () => {
  it('streams newly recorded flows that match the filter as rendered, escaped rows', async () => {
    const after = (fx.airlock.store.db.prepare('SELECT max(id) AS m FROM flows').get() as { m: number }).m;
    const controller = new AbortController();
    const res = await request(`${fx.base}/flows/live?host=api.test&after=${after}`, { headers: { cookie: admin.cookie }, signal: controller.signal });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    let text = '';
    const got = (async () => {
      for await (const chunk of res.body) {
        text += chunk;
        if (/event: rows\n[\s\S]*live-probe[\s\S]*\n\n/.test(text)) return;
      }
    })();
    await fx.curl('https://blocked.test/not-this-one');
    await fx.curl(`https://api.test/echo?live-probe=${encodeURIComponent('<i>x</i>')}`);
    await got;
    controller.abort();
    expect(text).toContain('event: rows');
    expect(text).toMatch(/data: <tr data-id="\d+" data-href="\/flows\/\d+">/);
    expect(text).toContain('live-probe=%3Ci%3Ex%3C%2Fi%3E');
    expect(text).not.toContain('not-this-one');
  });
});

describe('never through the proxy', () => {
  it('a request for the UI through the explicit proxy is refused, even when a rule allows its address', async () => {
    for (const path of ['/login', '/flows', '/api/flows']) {
      const r = await run('curl', ['-sS', '-i', '-x', fx.airlock.proxyUrl, `http://ui.test:${fx.uiPort}${path}`]);
      expect(r.stdout, path).toMatch(/^HTTP\/1\.1 403/);
      expect(r.stdout, path).toContain('"error":"address_not_allowed"');
      expect(r.stdout, path).not.toContain('airlock audit');
    }
    // Through a CONNECT tunnel too.
    const t = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-p', '-x', fx.airlock.proxyUrl, `http://ui.test:${fx.uiPort}/login`]);
    expect(t.stdout).toBe('403');
  });

  it('the JSON API still answers bearer tokens and nothing else', async () => {
    const ok = await request(`${fx.base}/api/flows?limit=1`, { headers: { authorization: `Bearer ${fx.token}` } });
    expect(ok.statusCode).toBe(200);
    await ok.body.dump();
    const withCookie = await request(`${fx.base}/api/flows?limit=1`, { headers: { cookie: admin.cookie } });
    expect(withCookie.statusCode).toBe(401);
    await withCookie.body.dump();
  });
});
