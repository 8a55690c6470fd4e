// The UI pieces for reviewing agents and policies, in Debian's Chromium against a real airlock
// with real curl traffic: codes beside the decision styled by kind (an exfiltration attempt
// stands out), the split list/detail view, boolean filter expressions, the per-agent view, a
// DLP-blocked body shown up to the block, "add to policy" drafts on the Hosts page, and the
// what-if replay page.
import fs from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type TestChromium } from '../helpers/chromium.ts';
import { makeTraffic, startUiFixture, type UiFixture } from '../helpers/ui-fixture.ts';

declare const window: Record<string, unknown> & { location: { href: string } };
declare function getComputedStyle(e: unknown): { backgroundColor: string; display: string };

let fx: UiFixture;
let browser: TestChromium | undefined;
let page: Page;
const cspErrors: string[] = [];
const PLACEHOLDER = 'airlock-placeholder-ui-review';

beforeAll(async () => {
  fx = await startUiFixture();
  await makeTraffic(fx);
  // More rules: a rule in report mode, and a placeholder that belongs to a host of its own.
  fs.writeFileSync(
    fx.policyFile,
    fx.policyWith(`  - { name: learn, match: blocked.test, methods: [GET], mode: report }
  - name: ph
    match: ph.test
    inject: { headers: { x-api-key: env:API_TEST_KEY } }
    placeholder: ${PLACEHOLDER}
`),
  );
  const r = fx.airlock.reload();
  if (!r.ok) throw new Error(r.errors.join('\n'));
  await fx.curl('-X', 'POST', '-d', 'x=1', 'https://blocked.test/echo?learn=1'); // would_deny: method_not_allowed, goes through
  await fx.curl('-H', `x-token: ${PLACEHOLDER}`, 'https://other.test/echo?exfil=1'); // placeholder_exfiltration
  await fx.curl('--proxy-user', 'alice:x', 'https://api.test/echo?agent=alice');
  await fx.curl('--proxy-user', 'alice:x', 'https://blocked.test/echo?agent=alice');
  await fx.curl('--proxy-user', 'bob:x', 'https://other.test/echo?agent=bob');
  await fx.airlock.store.flush();
  browser = await launchChromium();
  page = await browser.context.newPage();
  await page.setViewportSize({ width: 1400, height: 900 });
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Trusted Type/i.test(m.text())) cspErrors.push(m.text());
  });
  await page.goto(`${fx.base}/login`);
  await page.fill('input[name="token"]', fx.token);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${fx.base}/flows`);
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await fx?.close();
});

const row = (p: Page, text: string) => p.locator('table.flows tbody tr[data-id]', { hasText: text }).first();

describe('reviewing in the web UI', () => {
  it('shows each code beside its decision, styled by kind: an exfiltration attempt stands out from a wrong method', async () => {
    await page.goto(`${fx.base}/flows`);
    const exfil = row(page, 'exfil=1');
    expect(await exfil.locator('td.decision').textContent()).toMatch(/deny.*placeholder_exfiltration/);
    expect(await exfil.getAttribute('class')).toContain('exfil');
    const method = page.locator('table.flows tbody tr[data-id]', { hasText: 'other.test/echo' }).filter({ hasText: 'method_not_allowed' }).first();
    const bg = async (l: ReturnType<Page['locator']>) => l.evaluate((e) => getComputedStyle(e).backgroundColor);
    expect(await bg(exfil.locator('.code.k-exfil'))).not.toBe(await bg(method.locator('.code.k-policy')));
    expect(await bg(method.locator('.code.k-policy'))).toBe('rgba(0, 0, 0, 0)');
    const learned = row(page, 'learn=1');
    expect(await learned.locator('.badge.would_deny').textContent()).toBe('would deny');
    expect(await learned.locator('.code').textContent()).toBe('method_not_allowed');
    // The pager names the newest page once.
    expect(await page.locator('nav.pager').textContent()).not.toMatch(/Newest.*Newest/);
  });

  it('opens a flow beside the list (split view), keeps it on reload, and closes it with Escape', async () => {
    await page.goto(`${fx.base}/flows`);
    const exfil = row(page, 'exfil=1');
    const id = await exfil.getAttribute('data-id');
    await exfil.locator('td.url').click();
    await page.locator('#flow-pane .pane-body').waitFor();
    expect(new URL(page.url()).searchParams.get('flow')).toBe(id);
    expect(await page.locator('#flow-pane h2').textContent()).toMatch(new RegExp(`Flow ${id}.*placeholder_exfiltration`));
    expect(await page.locator('#flow-pane').textContent()).toContain('credential placeholder that belongs to another host');
    expect(await exfil.getAttribute('aria-selected')).toBe('true');
    await page.reload();
    expect(await page.locator('#flow-pane .pane-body').getAttribute('data-flow')).toBe(id);
    await page.keyboard.press('Escape');
    expect(await page.locator('#flow-pane').isHidden()).toBe(true);
    expect(new URL(page.url()).searchParams.get('flow')).toBeNull();
    await page.locator('#flow-pane').evaluate(() => undefined);
  });

  it('filters with a boolean expression, and names the problem in a bad one', async () => {
    await page.goto(`${fx.base}/flows`);
    await page.fill('input[name="q"]', 'host:other.test and not decision:allow');
    await page.click('form.filters button[type="submit"]');
    await page.waitForURL(/q=/);
    const decisions = await page.locator('table.flows tbody tr[data-id] td.decision .badge').allTextContents();
    expect(decisions.length).toBeGreaterThanOrEqual(2);
    expect(decisions.every((d) => d === 'deny')).toBe(true);
    expect(await page.locator('table.flows tbody tr[data-id]').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('other.test')]));
    await page.fill('input[name="q"]', '(decision:deny or code:dlp_blocked');
    await page.click('form.filters button[type="submit"]');
    await page.waitForSelector('text=Filter not applied: q: expected ")" at the end');
  });

  it('lists agents with their requests, linked to their flows', async () => {
    await page.goto(`${fx.base}/agents`);
    const alice = page.locator('table.agents tbody tr', { hasText: 'alice' });
    // Agent, Requests (linked to the agent's flows), Denied, Would deny, ...
    expect(await alice.locator('td').nth(1).textContent()).toBe('2');
    await alice.locator('td').nth(1).locator('a').click();
    await page.waitForURL(/agent=alice/);
    const urls = await page.locator('table.flows tbody tr[data-id] td.url').allTextContents();
    expect(urls.sort()).toEqual(['https://api.test/echo?agent=alice', 'https://blocked.test/echo?agent=alice']);
  });

  it('shows a DLP-blocked body up to the block, with the masked finding where it stopped', async () => {
    await page.goto(`${fx.base}/flows?q=code:dlp_blocked`);
    await page.locator('table.flows tbody tr[data-id] a.open').first().click();
    await page.waitForURL(/\/flows\/\d+$/);
    const stop = page.locator('p.dlp-stop');
    expect(await stop.textContent()).toMatch(/DLP stopped the body here.*rule anthropic-api-key matched sk-a…AA\(108\) at request body@\d+/);
    expect(await page.locator('main').textContent()).not.toContain('does not read the body of a request it does not admit');
  });

  it('drafts "add to policy" rules for hosts the policy does not cover', async () => {
    fs.writeFileSync(fx.policyFile, fx.policyWith(''));
    expect(fx.airlock.reload().ok).toBe(true);
    await page.goto(`${fx.base}/hosts?since=all`);
    await page.click('text=Draft rules for the hosts the policy does not cover');
    await page.waitForURL(/drafts=1/);
    const draft = page.locator('table tbody tr', { hasText: 'blocked.test' }).locator('details.draft');
    await draft.locator('summary').click();
    expect(await draft.locator('pre').textContent()).toMatch(/^hosts:\n {2}# \d+ flows .*\n(?: {2}#.*\n)* {2}- name: "blocked\.test"\n {4}match: "blocked\.test"\n {4}methods: \[GET, POST\]/);
    expect(await page.locator('table tbody tr', { hasText: 'api.test' }).locator('details.draft').count()).toBe(0);
  });

  it('replays a candidate policy and shows what it newly denies and allows, with examples', async () => {
    await page.goto(`${fx.base}/replay`);
    const current = await page.inputValue('textarea[name="candidate"]');
    expect(current).toContain('name: other');
    // Tighter: other.test loses GET; looser: blocked.test is allowed.
    const candidate = current
      .replace(/  - match: other\.test\n    name: other\n    methods: \[GET\]\n/, '  - match: other.test\n    name: other\n    methods: [PUT]\n')
      .replace(/^hosts:\n/m, 'hosts:\n  - { name: blocked, match: blocked.test }\n');
    expect(candidate).toContain('methods: [PUT]');
    await page.fill('textarea[name="candidate"]', candidate);
    await page.fill('input[name="since"]', 'all');
    await page.click('form.replay button[type="submit"]');
    await page.waitForLoadState();
    if (!(await page.locator('section.replay-result').count())) throw new Error(`no result: ${await page.locator('.note').allTextContents()} ${await page.title()}`);
    expect(await page.locator('#diff').textContent()).toMatch(/^[1-9]\d* newly denied, [1-9]\d* newly allowed$/);
    const denied = page.locator('table.diff.newly_denied tbody tr', { hasText: 'method_not_allowed' });
    expect(await denied.locator('td').nth(1).textContent()).toBe('other');
    const allowed = page.locator('table.diff.newly_allowed tbody tr', { hasText: 'blocked' });
    expect(await allowed.locator('a').first().getAttribute('href')).toMatch(/^\/flows\/\d+$/);
    await page.fill('textarea[name="candidate"]', 'hosts:\n  - match: "*"\n');
    await page.click('form.replay button[type="submit"]');
    await page.waitForSelector('text=would allow every host');
    expect(cspErrors).toEqual([]);
    expect(await page.evaluate(() => window.__xss)).toBeUndefined();
  });
});
