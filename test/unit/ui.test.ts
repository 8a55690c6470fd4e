// Pieces of the web UI on their own: sessions and their expiry, tokens and their files, the token
// command, escaping of rendered content, body kinds, filters, explanations, chart scales.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BodyRow } from '../../proxy/cli/flows.ts';
import { BodyView, bodyKind, Highlighted, hexDump } from '../../web-ui/body.tsx';
import { niceMax } from '../../web-ui/charts.tsx';
import { uiCommand } from '../../proxy/cli/ui-tokens.ts';
import { FlowRowView, qs, target } from '../../web-ui/components.tsx';
import { dlpRulesOf, dlpSummaryOf } from '../../web-ui/dlp.ts';
import { explainFlow } from '../../web-ui/explain.ts';
import { readFilter } from '../../web-ui/filters.tsx';
import { findingSide } from '../../web-ui/pages/flow.tsx';
import type { ListRow } from '../../proxy/store/reader.ts';
import { Sessions, sameSecret } from '../../web-ui/sessions.ts';
import { ensureUiToken } from '../../web-ui/token.ts';
import { addToken, revokeToken, TOKENS_FILE, UiTokens } from '../../web-ui/tokens.ts';
import { bucketFor, pageCsp } from '../../web-ui/ui.tsx';

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-ui-unit-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
const html = (x: unknown) => String(x);

describe('sessions', () => {
  const who = { sha256: 'a'.repeat(64), name: 'alice', role: 'auditor' as const };

  it('end after the idle time, after the maximum age, and at logout', () => {
    let now = 1_000_000;
    const s = new Sessions({ idleMs: 1000, maxAgeMs: 5000, now: () => now });
    const { cookie, session } = s.create(who);
    expect(cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(s.get(cookie)).toBe(session);
    now += 900;
    expect(s.get(cookie)).toBe(session); // activity keeps it alive...
    now += 900;
    expect(s.get(cookie, false)).toBe(session);
    now += 200; // ...but a look without touching does not
    expect(s.get(cookie)).toBeUndefined();

    const b = s.create(who);
    for (let i = 0; i < 6; i++) {
      now += 900;
      s.get(b.cookie);
    }
    expect(s.get(b.cookie)).toBeUndefined(); // 5.4 s > max age, however active

    const c = s.create(who);
    s.destroy(c.cookie);
    expect(s.get(c.cookie)).toBeUndefined();
  });

  it('never stores the cookie, ends every session of a revoked token, and rejects junk', () => {
    const s = new Sessions();
    const a = s.create(who);
    const b = s.create(who);
    const other = s.create({ ...who, sha256: 'b'.repeat(64) });
    expect(JSON.stringify([...(s as unknown as { map: Map<string, unknown> }).map.keys()])).not.toContain(a.cookie);
    s.destroyToken(who.sha256);
    expect(s.get(a.cookie)).toBeUndefined();
    expect(s.get(b.cookie)).toBeUndefined();
    expect(s.get(other.cookie)).toBeDefined();
    expect(s.get(undefined)).toBeUndefined();
    expect(s.get('x'.repeat(1000))).toBeUndefined();
  });

  it('compares CSRF tokens without caring about length or type', () => {
    expect(sameSecret('abc', 'abc')).toBe(true);
    expect(sameSecret('abd', 'abc')).toBe(false);
    expect(sameSecret('', 'abc')).toBe(false);
    expect(sameSecret(undefined, 'abc')).toBe(false);
  });
});

describe('tokens', () => {
  it('the first-start token is admin "initial"; added tokens have their role; only digests are stored, 0600', () => {
    const dir = tmp();
    const first = ensureUiToken(dir);
    const tokens = new UiTokens(dir);
    expect(tokens.verify(first.token!)).toMatchObject({ name: 'initial', role: 'admin' });
    const a = addToken(dir, 'alice', 'auditor');
    const b = addToken(dir, 'ops.bob', 'admin');
    expect(tokens.verify(a.token)).toMatchObject({ name: 'alice', role: 'auditor' });
    expect(tokens.verify(b.token)).toMatchObject({ name: 'ops.bob', role: 'admin' });
    expect(tokens.verify('nope')).toBeUndefined();
    expect(tokens.verify('')).toBeUndefined();
    const file = path.join(dir, TOKENS_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const text = fs.readFileSync(file, 'utf8');
    expect(text).not.toContain(a.token);
    expect(text).not.toContain(b.token);
    expect(() => addToken(dir, 'alice', 'admin')).toThrow(/exists/);
    expect(() => addToken(dir, 'initial', 'admin')).toThrow(/first-start/);
    expect(() => addToken(dir, 'Bad Name', 'admin')).toThrow(/token name/);
    expect(() => addToken(dir, 'carol', 'root' as 'admin')).toThrow(/role/);
    expect(revokeToken(dir, 'alice')).toBe(true);
    expect(revokeToken(dir, 'alice')).toBe(false);
    expect(tokens.verify(a.token)).toBeUndefined();
    expect(revokeToken(dir, 'initial')).toBe(true);
    expect(tokens.verify(first.token!)).toBeUndefined();
    expect(tokens.verify(b.token)).toBeDefined();
  });

  it('a broken tokens file grants nothing but keeps the first-start token', () => {
    const dir = tmp();
    const first = ensureUiToken(dir);
    fs.writeFileSync(path.join(dir, TOKENS_FILE), '{not json');
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((t: string) => (errors.push(String(t)), true)) as typeof process.stderr.write;
    try {
      const tokens = new UiTokens(dir);
      expect(tokens.list().map((t) => t.name)).toEqual(['initial']);
      expect(tokens.verify(first.token!)).toBeDefined();
    } finally {
      process.stderr.write = write;
    }
    expect(errors.join('')).toContain('ignoring ui-tokens.json');
  });

  it('`airlock ui token add|list|revoke` prints a token once and never again', async () => {
    const dir = tmp();
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) };
    expect(await uiCommand(['token', 'add', '--name', 'alice', '--data-dir', dir], io)).toBe(0);
    const token = out.join('').trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(err.join('')).toContain('"alice" (auditor)');
    expect(new UiTokens(dir).verify(token)).toMatchObject({ role: 'auditor' });
    out.length = 0;
    expect(await uiCommand(['token', 'list', '--data-dir', dir], io)).toBe(0);
    expect(out.join('')).toMatch(/^alice +auditor /);
    expect(out.join('')).not.toContain(token);
    expect(await uiCommand(['token', 'add', '--data-dir', dir], io)).toBe(2);
    expect(await uiCommand(['token', 'add', '--name', 'x', '--role', 'boss', '--data-dir', dir], io)).toBe(2);
    expect(await uiCommand(['token', 'revoke', 'alice', '--data-dir', dir], io)).toBe(0);
    expect(await uiCommand(['token', 'revoke', 'alice', '--data-dir', dir], io)).toBe(1);
    expect(await uiCommand(['token', 'add', '--name', 'y', '--bogus'], io)).toBe(2);
  });
});

describe('rendering', () => {
  const row: ListRow = {
    id: 7,
    flow_id: 'f',
    started_at: 0,
    entry: 'explicit',
    listener: '127.0.0.1:8080',
    agent_user: '<b>agent</b>',
    method: 'GET',
    scheme: 'https',
    host: 'a.test',
    port: 443,
    path: '/"><script>alert(1)</script>',
    query: 'q=<img src=x onerror=alert(1)>',
    protocol: 'h1',
    status: 200,
    decision: 'allow',
    rule_id: "r' onmouseover='x",
    code: null,
    bytes_up: 1,
    bytes_down: 2,
    ttfb_ms: 1,
    total_ms: 3,
    llm_provider: null,
    llm_model: null,
    instance: '<i>pod-a</i>',
    findings: 0,
  };

  it('a flow row escapes every stored value, in text and in attributes', () => {
    const out = html(FlowRowView({ r: row }));
    expect(out).not.toMatch(/<script|<img|<b>/);
    expect(out).toContain('/&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;?q=&lt;img src=x onerror=alert(1)&gt;');
    expect(out).toContain('title="&lt;b&gt;agent&lt;/b&gt;"');
    expect(out).toContain('r&#39; onmouseover=&#39;x');
    // The instance column (a store several instances write to) is escaped too.
    const withInstance = html(FlowRowView({ r: row, instance: true }));
    expect(withInstance).not.toMatch(/<i>|<script|<img|<b>/);
    expect(withInstance).toContain('<td class="opt instance" title="&lt;i&gt;pod-a&lt;/i&gt;">&lt;i&gt;pod-a&lt;/i&gt;</td>');
    expect(target({ ...row, method: 'CONNECT', path: null })).toEqual({ before: '', host: 'a.test', after: ':443' });
    expect(target({ ...row, host: '::1', port: 8443, path: '/', query: null })).toEqual({ before: 'https://', host: '[::1]', after: ':8443/' });
  });

  it('highlights airlock markers and nothing else', () => {
    expect(html(Highlighted({ text: 'key [injected:x-api-key] and [redacted:aws-key] <i>' }))).toBe(
      'key <mark>[injected:x-api-key]</mark> and <mark>[redacted:aws-key]</mark> &lt;i&gt;',
    );
  });

  const body = (content_type: string | null, data: Buffer | string, more: Partial<BodyRow> = {}): BodyRow => ({
    direction: 'request',
    content_type,
    encoding: null,
    size: Buffer.from(data).length,
    truncated: 0,
    data: Buffer.from(data),
    ...more,
  });

  it('tells body kinds apart', () => {
    expect(bodyKind(body('application/json', '{"a":1}'))).toBe('json');
    expect(bodyKind(body('application/vnd.api+json; charset=utf-8', '[]'))).toBe('json');
    expect(bodyKind(body(null, ' {"a":1}'))).toBe('json');
    expect(bodyKind(body('application/x-www-form-urlencoded', 'a=1'))).toBe('form');
    expect(bodyKind(body('text/html', '<p>'))).toBe('text');
    expect(bodyKind(body('image/svg+xml', '<svg/>'))).toBe('text'); // a document, never an <img>
    expect(bodyKind(body('image/png', Buffer.from([0x89, 0x50])))).toBe('image');
    expect(bodyKind(body('image/png', Buffer.from([0x89, 0x50]), { truncated: 1 }))).toBe('hex');
    expect(bodyKind(body('application/json', '{"a":1}', { encoding: 'zstd' }))).toBe('hex');
    expect(bodyKind(body('application/octet-stream', Buffer.from([0, 1, 2])))).toBe('hex');
    expect(hexDump(Buffer.from('ABC\x00'))).toBe(`00000000  ${'41 42 43 00'.padEnd(47)}  ABC.`);
  });

  it('renders a JSON tree whose keys and strings stay text; an image type cannot smuggle markup into its data URL', () => {
    const j = html(BodyView({ b: body('application/json', JSON.stringify({ '<k>': '<script>x</script>', n: [1, true, null] })), direction: 'request', flowId: 1 }));
    expect(j).toContain('<span class="k">&quot;&lt;k&gt;&quot;</span>');
    expect(j).toContain('&lt;script&gt;x&lt;/script&gt;');
    expect(j).not.toContain('<script>');
    const img = html(BodyView({ b: body('image/png; x="><script>', Buffer.from([1, 2, 3])), direction: 'response', flowId: 1 }));
    expect(img).toContain('src="data:image/png;base64,AQID"');
    expect(img).not.toContain('<script>');
    const broken = html(BodyView({ b: body('application/json', '{"cut": "in the mid'), direction: 'request', flowId: 1 }));
    expect(broken).toContain('kind-json');
    expect(broken).toContain('<pre class="body"');
  });

  it('places findings by their location', () => {
    expect(findingSide('request body@65527 via json>base64')).toBe('request');
    expect(findingSide('header:authorization@7')).toBe('request');
    expect(findingSide('query@12 via url')).toBe('request');
    expect(findingSide('response body@3')).toBe('response');
    expect(findingSide('websocket')).toBe('other');
  });

  it('builds query strings without empty values', () => {
    expect(qs({ host: 'a b', x: '', y: undefined, n: 0 })).toBe('?host=a+b&n=0');
    expect(qs({})).toBe('');
  });
});

describe('filters, explanations, scales, CSP', () => {
  it('reads filters leniently and reports bad values instead of running them', () => {
    expect(readFilter({ host: 'a.test', text: '', bogus: 'x' })).toMatchObject({ values: { host: 'a.test' }, filter: { host: 'a.test' }, error: null });
    const bad = readFilter({ status: 'abc' });
    expect(bad.error).toMatch(/status/);
    expect(bad.filter).toEqual({ text: '' }); // matches nothing
    expect(readFilter({ since: 'all' }).filter).toEqual({});
    expect(readFilter({}, { since: '24h' }).filter.since).toBeGreaterThan(Date.now() - 86_400_000 - 5000);
    expect(readFilter({ has_finding: '1' }).filter).toEqual({ hasFinding: true });
  });

  it('explains decisions from the code and the policy in force', () => {
    const config = {
      hosts: [{ id: 'r1', match: '*.a.test', explain: 'allows GET to *.a.test on port 443' }],
      deny: [{ id: 'no-admin', match: 'admin.a.test', explain: 'denies every method to admin.a.test on every port, whatever the allow rules say' }],
    } as unknown as Parameters<typeof explainFlow>[1];
    expect(explainFlow({ decision: 'deny', rule_id: 'no-admin', code: 'host_denied_by_rule', host: 'admin.a.test' }, config)).toMatchObject({
      rule: { id: 'no-admin', explain: expect.stringMatching(/^denies every method/) },
      code: expect.stringMatching(/deny rule/),
      ruleGone: null,
    });
    expect(explainFlow({ decision: 'allow', rule_id: 'r1', code: null, host: 'x.a.test' }, config)).toMatchObject({
      rule: { id: 'r1', explain: 'allows GET to *.a.test on port 443' },
      ruleGone: null,
    });
    expect(explainFlow({ decision: 'allow', rule_id: 'old', code: null, host: 'x' }, config).ruleGone).toMatch(/not in the policy in force/);
    const e = explainFlow({ decision: 'deny', rule_id: null, code: 'host_not_allowed', host: 'X.A.test' }, config);
    expect(e.code).toMatch(/No rule in the policy names this host/);
    expect(e.nowCovered.map((h) => h.id)).toEqual(['r1']); // the policy changed since
    const d = explainFlow({ decision: 'deny', rule_id: 'r1', code: 'dlp_blocked', host: 'x.a.test' }, config);
    expect(d).toMatchObject({ dlp: true, decision: expect.stringMatching(/^Stopped by DLP/), rule: { id: 'r1' } });
    expect(d.code).toMatch(/A DLP rule whose action is "block"/);
    expect(explainFlow({ decision: 'deny', rule_id: null, code: 'something_new', host: 'x' }, config).code).toBeNull();
  });

  it('reads DLP rules and actions from the policy in force, and nothing from a policy without DLP', () => {
    expect(dlpRulesOf({ hosts: [] })).toEqual([]);
    expect(dlpSummaryOf({})).toBeNull();
    const config = {
      dlp: {
        enabled: true,
        mode: 'report',
        responses: false,
        rules: [{ id: 'aws-access-key-id', description: 'AWS access key ids', service: 'AWS', source: 'AWS IAM docs', severity: 'high', action: 'block' }],
        actions: { 'aws-access-key-id': 'log' },
        exceptions: [{ index: 0, hosts: ['*.corp.test'], rules: ['aws-*'], action: 'off' }],
      },
    };
    expect(dlpRulesOf(config)).toEqual([{ id: 'aws-access-key-id', description: 'AWS access key ids', service: 'AWS', source: 'AWS IAM docs', severity: 'high', action: 'log' }]);
    expect(dlpSummaryOf(config)).toEqual({ enabled: true, mode: 'report', responses: false, exceptions: [{ hosts: ['*.corp.test'], paths: [], rules: ['aws-*'], action: 'off' }] });
  });

  it('picks round axis maxima and bucket sizes', () => {
    expect([0, 1, 3, 7, 15, 99, 101, 2400].map(niceMax)).toEqual([1, 1, 5, 10, 20, 100, 200, 2500]);
    expect(bucketFor(3_600_000)).toBe(60_000);
    expect(bucketFor(24 * 3_600_000)).toBe(900_000);
    expect(bucketFor(30 * 86_400_000)).toBe(6 * 3_600_000);
    expect(bucketFor(10 * 365 * 86_400_000)).toBe(30 * 86_400_000);
  });

  it('the page CSP allows only the nonce for scripts, no inline anything', () => {
    const csp = pageCsp('abc');
    expect(csp).toContain("script-src 'nonce-abc'");
    expect(csp).not.toMatch(/unsafe|\*/);
    expect(csp).toContain("img-src 'self' data:");
    expect(csp).toContain("default-src 'none'");
  });
});
