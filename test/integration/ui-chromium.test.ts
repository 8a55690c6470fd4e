// The web UI in Debian's Chromium (playwright-core), against a real airlock with real traffic
// through its explicit proxy: log in, watch flows arrive live, filter, open a blocked flow and read
// why, download a HAR, see the stats plots, and prove that stored XSS payloads never run (no
// dialog, no window.__xss, no element made from them). Screenshots go to $AIRLOCK_UI_SCREENSHOTS
// (docs/screenshots for the README) or to the test's temp dir.
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type TestChromium } from '../helpers/chromium.ts';
import { addFinding, DLP_KEY, flowIdWhere, makeTraffic, startUiFixture, type UiFixture, XSS } from '../helpers/ui-fixture.ts';

// Page-side code below runs in Chromium; these name its globals for the type checker (no DOM lib here).
declare const window: Record<string, unknown>;
declare const document: { querySelectorAll(s: string): ArrayLike<{ attributes: ArrayLike<{ name: string }> }>; activeElement: { getAttribute(n: string): string | null; className: string; textContent: string | null } | null; documentElement: { scrollWidth: number }; body: unknown };
declare function getComputedStyle(e: unknown): { fill: string; backgroundColor: string };

let fx: UiFixture;
let browser: TestChromium | undefined;
let page: Page;
let shots: string;
const dialogs: string[] = [];
const cspErrors: string[] = [];

beforeAll(async () => {
  fx = await startUiFixture();
  await makeTraffic(fx);
  shots = process.env.AIRLOCK_UI_SCREENSHOTS ? path.resolve(process.env.AIRLOCK_UI_SCREENSHOTS) : path.join(fx.dir, 'screenshots');
  fs.mkdirSync(shots, { recursive: true });
  browser = await launchChromium();
  page = await browser.context.newPage();
  await page.setViewportSize({ width: 1280, height: 860 });
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss().catch(() => {});
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Trusted Type/i.test(m.text())) cspErrors.push(m.text());
  });
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await fx?.close();
});

const shot = (name: string) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: false });
/** Nothing from the stored payloads ran. */
async function expectNoScriptRan(where: string) {
  expect(await page.evaluate(() => window.__xss), where).toBeUndefined();
  expect(dialogs, where).toEqual([]);
  // No element was made from a payload: no inline script, no img pointing at "x", no handler attributes.
  const made = await page.evaluate(() => ({
    inline: document.querySelectorAll('script:not([src])').length,
    imgX: document.querySelectorAll('img[src="x"]').length,
    handlers: Array.from(document.querySelectorAll('*')).filter((e) => Array.from(e.attributes).some((a) => a.name.startsWith('on'))).length,
  }));
  expect(made, where).toEqual({ inline: 0, imgX: 0, handlers: 0 });
}

describe('the web UI in Chromium', () => {
  it('logs in through the form with the first-start token', async () => {
    await page.goto(`${fx.base}/flows`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await shot('login');
    await page.fill('input[name="token"]', 'wrong-token');
    await page.click('button[type="submit"]');
    await page.waitForSelector('text=That token is not valid');
    await page.fill('input[name="token"]', fx.token);
    await page.click('button[type="submit"]');
    await page.waitForURL(`${fx.base}/flows`);
    expect(await page.textContent('h1')).toBe('Flows');
    expect(await page.textContent('.who')).toContain('admin');
    const cookies = await browser!.context.cookies(fx.base);
    expect(cookies.find((c) => c.name === 'airlock_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false });
  });

  it('shows flows live while requests go through the proxy', async () => {
    await page.waitForSelector('#live-status[data-state="on"]');
    const before = await page.locator('table.flows tbody tr[data-id]').count();
    for (let i = 1; i <= 3; i++) await fx.curl(`https://api.test/echo?live=${i}`);
    await fx.curl('https://blocked.test/live-denied');
    for (const text of ['live=1', 'live=2', 'live=3', 'blocked.test']) {
      await page.locator('table.flows tbody tr.new', { hasText: text }).first().waitFor({ timeout: 20_000 });
    }
    expect(await page.locator('table.flows tbody tr[data-id]').count()).toBe(before + 4);
    expect(await page.textContent('#live-count')).toBe('4');
    // Newest on top.
    const ids = await page.locator('table.flows tbody tr[data-id]').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-id'))));
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    await page.waitForTimeout(2600); // let the highlight of new rows fade before the picture
    await shot('flows');
    await expectNoScriptRan('live list');
  });

  it('filters by host and decision', async () => {
    await page.fill('input[name="host"]', 'other.test');
    await page.selectOption('select[name="decision"]', 'deny');
    await page.click('form.filters button[type="submit"]');
    await page.waitForURL(/decision=deny/);
    const url = new URL(page.url());
    // Empty fields are left out of the URL.
    expect([...url.searchParams.keys()].sort()).toEqual(['decision', 'host']);
    const rows = page.locator('table.flows tbody tr[data-id]');
    expect(await rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('other.test');
    expect(await rows.first().locator('.badge').first().textContent()).toBe('deny');
    expect(await page.inputValue('input[name="host"]')).toBe('other.test');
  });

  it('opens the blocked flow and shows the rule, its explanation and any DLP finding', async () => {
    await page.locator('table.flows tbody tr[data-id] a.open').first().click();
    await page.waitForURL(/\/flows\/\d+$/);
    const id = Number(new URL(page.url()).pathname.split('/').pop());
    const decision = page.locator('section.decision');
    await expect(decision.textContent()).resolves.toContain('Denied by the policy: nothing was sent upstream.');
    const text = (await decision.textContent())!;
    expect(text).toContain('method_not_allowed');
    expect(text).toContain('A rule covers this host, but it does not allow this HTTP method.');
    expect(text).toMatch(/Rule other was the closest rule: it allows GET to other\.test on port 443/);
    expect(await decision.locator('a[href="/policy#rule-other"]').count()).toBe(1);
    // DLP (issue: DLP findings): when the scanner recorded findings for this flow, they are shown masked.
    const findings = fx.airlock.store.db.prepare('SELECT rule_id, preview FROM findings WHERE flow_id = ?').all(id) as { rule_id: string; preview: string | null }[];
    if (findings.length) {
      const table = page.locator('section.findings');
      for (const f of findings) {
        expect(await table.textContent()).toContain(f.rule_id);
        if (f.preview !== null) expect(await table.locator('mark').allTextContents()).toContain(f.preview);
      }
    }
    await shot('flow-denied');
  });

  it('opens a flow DLP blocked and shows the masked finding with the rule description', async () => {
    await page.goto(`${fx.base}/flows`);
    await page.check('input[name="has_finding"]');
    await page.selectOption('select[name="decision"]', 'deny');
    await page.click('form.filters button[type="submit"]');
    await page.waitForURL(/has_finding=1/);
    const rows = page.locator('table.flows tbody tr[data-id]');
    expect(await rows.count()).toBe(1);
    expect(await rows.first().locator('.badge.finding').textContent()).toBe('DLP 1');
    await rows.first().locator('a.open').click();
    await page.waitForURL(/\/flows\/\d+$/);
    expect(await page.locator('section.decision').textContent()).toContain('dlp_blocked: A DLP rule whose action is "block" found a secret');
    const finding = page.locator('section.findings tr.hit');
    expect(await finding.locator('td').allTextContents()).toEqual(['anthropic-api-key', 'Anthropic API key (sk-ant-api03-…)', expect.stringMatching(/^request body@\d+$/), 'block', 'sk-a…AA(108)']);
    expect(await finding.locator('mark').textContent()).toBe('sk-a…AA(108)');
    expect(await page.locator('main').textContent()).not.toContain(DLP_KEY.slice(13, 40));
    await shot('flow-dlp');
  });

  it('shows a finding masked and highlighted, with the rule and where it was found', async () => {
    const id = flowIdWhere(fx, "host = 'api.test' AND path = '/echo' AND method = 'POST' AND query IS NULL");
    // Locations as the DLP scanner writes them (proxy/dlp/record.ts).
    addFinding(fx, id, { rule_id: 'anthropic-api-key', location: 'request body@41 via json', action: 'block', preview: 'sk-ant-…Qx4A' });
    addFinding(fx, id, { rule_id: 'xss-preview', location: 'header:x-evil@0', action: 'log', preview: XSS });
    await page.goto(`${fx.base}/flows/${id}`);
    const table = page.locator('section.findings');
    expect(await table.locator('mark').allTextContents()).toEqual(['sk-ant-…Qx4A', XSS]);
    expect(await page.locator('section.decision').textContent()).toContain('DLP: 2 findings (anthropic-api-key → block, xss-preview → log)');
    // Also shown in place: with the request they were found in.
    expect(await page.locator('section[aria-labelledby="request-h"] tr.hit').count()).toBe(2);
    // The JSON body is a collapsible tree.
    const tree = page.locator('.bodyview.kind-json details').first();
    expect(await tree.getAttribute('open')).toBe('');
    await tree.locator('summary').first().click();
    expect(await tree.getAttribute('open')).toBeNull();
    await tree.locator('summary').first().click();
    await page.locator('section.findings').scrollIntoViewIfNeeded();
    await shot('flow-finding');
    await expectNoScriptRan('flow with findings');
  });

  it('downloads a HAR of the current filter', async () => {
    await page.goto(`${fx.base}/flows?host=other.test&decision=deny`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[href^="/export"][href*="format=har"]')]);
    expect(download.suggestedFilename()).toMatch(/^airlock-flows-.*\.har$/);
    const file = path.join(fx.dir, 'ui.har');
    await download.saveAs(file);
    const har = JSON.parse(fs.readFileSync(file, 'utf8')) as { log: { version: string; entries: { request: { url: string; method: string }; _airlock: Record<string, unknown> }[] } };
    expect(har.log.version).toBe('1.2');
    expect(har.log.entries).toHaveLength(1);
    expect(har.log.entries[0].request).toMatchObject({ method: 'POST', url: 'https://other.test/echo' });
    expect(har.log.entries[0]._airlock).toMatchObject({ decision: 'deny', code: 'method_not_allowed', rule: 'other' });
  });

  it('shows the stats plots', async () => {
    await page.goto(`${fx.base}/stats`);
    const chart = page.locator('svg.chart[aria-label^="Flows per 1 minute by decision"]');
    await chart.waitFor();
    const box = await chart.boundingBox();
    expect(box!.width).toBeGreaterThan(300);
    expect(await chart.locator('rect.allow').count()).toBeGreaterThan(0);
    expect(await chart.locator('rect.deny').count()).toBeGreaterThan(0);
    const bar = await chart.locator('rect.allow').first().boundingBox();
    expect(bar!.height).toBeGreaterThan(0);
    expect(await page.locator('svg.chart[aria-label^="Latency"] rect.bar').count()).toBe(13);
    expect(await page.locator('svg.chart[aria-label="Flows per host, top 10"] text.label').allTextContents()).toContain('api.test');
    // The styles apply (the stylesheet was allowed by the CSP): bars are coloured, not black.
    const fill = await chart.locator('rect.allow').first().evaluate((e) => getComputedStyle(e).fill);
    expect(fill).not.toBe('rgb(0, 0, 0)');
    await page.goto(`${fx.base}/stats?since=10m`);
    await shot('stats');
  });

  it('stored XSS in a body, a header, a URL and an agent name renders as text and never runs', async () => {
    const pages = [
      `/flows/${flowIdWhere(fx, "path LIKE '/reverse/%'")}`,
      `/flows/${flowIdWhere(fx, 'agent_user IS NOT NULL')}`,
      `/flows/${flowIdWhere(fx, "host = 'api.test' AND path = '/reverse'")}`,
      '/flows',
      '/hosts',
      '/findings',
      `/flows?text=${encodeURIComponent('__xss')}`,
    ];
    for (const p of pages) {
      await page.goto(`${fx.base}${p}`);
      await page.waitForLoadState('load');
      await expectNoScriptRan(p);
    }
    await page.goto(`${fx.base}${pages[0]}`);
    const body = await page.locator('main').textContent();
    expect(body).toContain(XSS); // the header and the request body, as text
    expect(body).toContain('<svg/onload=window.__xss=4>'); // the URL
    expect(await page.locator('tr', { hasText: 'x-evil' }).locator('td').nth(1).textContent()).toBe(XSS);

    // The same payload arriving on the live list.
    await page.goto(`${fx.base}/flows`);
    await page.waitForSelector('#live-status[data-state="on"]');
    await fx.curl('-H', `x-evil: ${XSS}`, '--proxy-user', '<svg/onload=alert(7)>:pw', `https://api.test/echo?live-xss=1`);
    await page.locator('table.flows tbody tr.new', { hasText: 'live-xss=1' }).waitFor({ timeout: 20_000 });
    expect(await page.locator('table.flows tbody tr.new', { hasText: 'live-xss=1' }).textContent()).toContain('<svg/onload=alert(7)>');
    await expectNoScriptRan('live row');
  });

  it('is usable by keyboard', async () => {
    await page.goto(`${fx.base}/flows`);
    await page.keyboard.press('/');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('text');
    await page.keyboard.press('Escape');
    await page.keyboard.press('j');
    expect(await page.evaluate(() => document.activeElement?.className)).toBe('open');
    await page.keyboard.press('j');
    const href = await page.evaluate(() => document.activeElement?.getAttribute('href'));
    await page.keyboard.press('Enter');
    await page.waitForURL(`${fx.base}${href}`);
    // Tab reaches the skip link first.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
  });

  it('fits a narrow window and follows the system dark mode', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const p of ['/flows', `/flows/${flowIdWhere(fx, "host = 'other.test' AND decision = 'deny'")}`, '/stats', '/policy']) {
      await page.goto(`${fx.base}${p}`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - (window.innerWidth as number));
      expect(overflow, p).toBeLessThanOrEqual(0);
    }
    await page.goto(`${fx.base}/flows`);
    await shot('flows-narrow');
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${fx.base}/flows/${flowIdWhere(fx, "host = 'api.test' AND path = '/echo' AND method = 'POST' AND query IS NULL")}`);
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = bg.match(/\d+/g)!.map(Number);
    expect(r + g + b).toBeLessThan(150);
    await shot('flow-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('never needed to break its own CSP, and logs out', async () => {
    await page.goto(`${fx.base}/policy`);
    await shot('policy');
    expect(cspErrors).toEqual([]);
    await page.goto(`${fx.base}/flows`);
    await page.click('.who button[type="submit"]');
    await page.waitForURL(/\/login$/);
    await page.goto(`${fx.base}/flows`);
    expect(new URL(page.url()).pathname).toBe('/login');
  });
});
