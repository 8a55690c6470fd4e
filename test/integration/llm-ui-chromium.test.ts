// LLM-aware audit in Debian's Chromium (playwright-core), against a real airlock: Claude Code, the
// real CLI from npm (`claude -p`), runs a tool-use loop through a base-URL route
// (ANTHROPIC_BASE_URL) against a fake Messages API on loopback, holding only a placeholder key.
// The run is one session with its turns; a turn shows what is new in it (the model's tool call
// with its input, the tool's result) and the answer assembled from the stream. OpenAI Chat
// Completions and Gemini calls (Node's fetch through the explicit proxy) render as conversations;
// the agents page plots tokens and estimated cost from the policy's prices; the session exports
// as HAR and as JSONL (`airlock sessions export`); nothing from a stored payload ever runs.
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { ProxyAgent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSessions } from '../../proxy/cli/sessions.ts';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { makeUpstreamPki } from '../helpers/certs.ts';
import { launchChromium, type TestChromium } from '../helpers/chromium.ts';
import { freePort } from '../helpers/dns.ts';
import { type FakeLlm, startFakeLlm, USAGE } from '../helpers/fake-llm.ts';
import { run } from '../helpers/run.ts';
import { loopbackIp } from '../helpers/upstream.ts';

declare const window: Record<string, unknown>;
declare const document: { querySelectorAll(s: string): ArrayLike<{ attributes: ArrayLike<{ name: string }> }> };
declare function getComputedStyle(e: unknown): { borderTopColor: string };

const CLAUDE = path.resolve('node_modules/.bin/claude');
const REAL_KEY = 'sk-ant-api03-only-airlock-holds-this-key-0123456789';
const PLACEHOLDER = 'airlock-placeholder-anthropic';
/** What the agent's file holds: an address DLP finds (action log: it goes through, the record masks it) and a payload that must stay text. */
const EMAIL = 'alice.smith@acme-corp.com';
const NOTES = `buy oat milk, ask ${EMAIL} <img src=x onerror="window.__xss=7">`;

let dir: string;
let work: string;
let fake: FakeLlm;
let airlock: TestAirlock;
let browser: TestChromium | undefined;
let page: Page;
let base: string;
let routeAgent: string;
let claudeOut = '';
const dialogs: string[] = [];

beforeAll(async () => {
  dir = tempDir('airlock-llm-ui-');
  work = path.join(dir, 'work');
  fs.mkdirSync(work);
  fs.writeFileSync(path.join(work, 'notes.txt'), `${NOTES}\n`);
  const ip = loopbackIp();
  const names = ['api.anthropic.com', 'api.openai.com', 'generativelanguage.googleapis.com'];
  const pki = makeUpstreamPki(path.join(dir, 'pki'), names);
  fake = await startFakeLlm(pki, ip, path.join(work, 'notes.txt'));
  const [proxyPort, routePort, uiPort] = [await freePort(), await freePort(), await freePort()];
  routeAgent = `listener:127.0.0.1:${routePort}`;
  airlock = await startTestAirlock(
    `
listen:
  proxy: 127.0.0.1:${proxyPort}
  ui: 127.0.0.1:${uiPort}
routes:
  - listen: 127.0.0.1:${routePort}
    upstream: https://api.anthropic.com:${fake.port}
upstream:
  ca_files: [${pki.caCert}]
  resolve: { ${names.map((n) => `${n}: ${ip}`).join(', ')} }
hosts:
  - name: anthropic
    match: api.anthropic.com
    ports: [${fake.port}]
    inject: { headers: { x-api-key: env:FAKE_ANTHROPIC_KEY } }
    placeholder: ${PLACEHOLDER}
  - name: openai
    match: api.openai.com
    ports: [${fake.port}]
  - name: gemini
    match: generativelanguage.googleapis.com
    ports: [${fake.port}]
prices:
  "claude-*": { input: 3, output: 15 }
  "gpt-*": { input: 2.5, output: 10 }
`,
    { FAKE_ANTHROPIC_KEY: REAL_KEY },
    dir,
  );
  base = `http://127.0.0.1:${uiPort}`;

  // Claude Code: its own empty home, only the placeholder key, the route as its API.
  const home = path.join(dir, 'home');
  fs.mkdirSync(home);
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/_proxy$/i.test(k))),
    HOME: home,
    ANTHROPIC_BASE_URL: `http://127.0.0.1:${routePort}`,
    ANTHROPIC_API_KEY: PLACEHOLDER,
    DISABLE_TELEMETRY: '1',
    DISABLE_AUTOUPDATER: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  };
  const r = await run(CLAUDE, ['-p', 'Read notes.txt and tell me what it says', '--allowedTools', 'Read'], { cwd: work, env });
  claudeOut = `${r.stdout}\n${r.stderr}`;

  // OpenAI and Gemini: Node's fetch through the explicit proxy, a tool-use loop of two calls each.
  const proxy = new ProxyAgent({ uri: `http://127.0.0.1:${proxyPort}`, requestTls: { ca: airlock.caPem } });
  const post = (url: string, body: unknown) =>
    undiciFetch(url, { method: 'POST', dispatcher: proxy, headers: { 'content-type': 'application/json', authorization: 'Bearer sk-agent' }, body: JSON.stringify(body) }).then((x) => x.text());
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const ask = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Weather in Paris?' }];
  const openai = `https://api.openai.com:${fake.port}/v1/chat/completions`;
  await post(openai, { model: 'gpt-4o', stream: true, tools, messages: ask });
  // Between the turns the agent tries a host the policy does not allow: refused, and part of the session's story.
  await undiciFetch('https://weather.example.net/forecast?city=Paris', { dispatcher: proxy }).catch(() => {});
  const call = { role: 'assistant', content: null, tool_calls: [{ id: 'call_w1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] };
  await post(openai, { model: 'gpt-4o', stream: true, tools, messages: [...ask, call, { role: 'tool', tool_call_id: 'call_w1', content: '{"sky":"sunny"}' }] });
  const gemini = `https://generativelanguage.googleapis.com:${fake.port}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse`;
  const gtools = [{ functionDeclarations: [{ name: 'get_weather', description: 'Current weather' }] }];
  const user = { role: 'user', parts: [{ text: 'Weather in Paris?' }] };
  await post(gemini, { contents: [user], tools: gtools, systemInstruction: { parts: [{ text: 'Be brief.' }] } });
  const fc = { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] };
  const fr = { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { sky: 'sunny' } } }] };
  await post(gemini, { contents: [user, fc, fr], tools: gtools, systemInstruction: { parts: [{ text: 'Be brief.' }] } });
  await proxy.close();
  await airlock.store.flush();

  browser = await launchChromium();
  page = await browser.context.newPage();
  await page.setViewportSize({ width: 1280, height: 900 });
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss().catch(() => {});
  });
}, 180_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await airlock?.close().catch(() => {});
  await fake?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const shot = (name: string) => page.screenshot({ path: path.join(process.env.AIRLOCK_UI_SCREENSHOTS ?? dir, `${name}.png`), fullPage: false });

async function expectNoScriptRan(where: string) {
  expect(await page.evaluate(() => window.__xss), where).toBeUndefined();
  expect(dialogs, where).toEqual([]);
  const made = await page.evaluate(() => ({
    imgX: document.querySelectorAll('img[src="x"]').length,
    handlers: Array.from(document.querySelectorAll('*')).filter((e) => Array.from(e.attributes).some((a) => a.name.startsWith('on'))).length,
  }));
  expect(made, where).toEqual({ imgX: 0, handlers: 0 });
}

/** The session of the Claude Code run: the one of the route's agent whose calls offered tools. */
function claudeSession(): { id: number; flows: number[] } {
  const rows = airlock.store.db
    .prepare(
      `SELECT s.id, t.flow_id FROM llm_sessions s JOIN session_turns t ON t.session_id = s.id
        WHERE s.agent = ? ORDER BY t.turn`,
    )
    .all(routeAgent) as { id: number; flow_id: number }[];
  const ids = [...new Set(rows.map((r) => r.id))];
  expect(ids.length).toBe(1);
  return { id: ids[0], flows: rows.map((r) => r.flow_id) };
}

describe('LLM-aware audit in Chromium', () => {
  it('Claude Code ran its tool-use loop through airlock with only a placeholder key', () => {
    expect(claudeOut).toContain('The notes say: buy oat milk');
    const calls = fake.seen.filter((s) => s.method === 'POST' && s.path === '/v1/messages');
    expect(calls.length).toBe(2);
    expect(calls.every((s) => s.apiKey === REAL_KEY)).toBe(true);
  });

  it('logs in', async () => {
    await page.goto(`${base}/sessions`);
    await page.fill('input[name="token"]', airlock.uiToken!);
    await page.click('button[type="submit"]');
    await page.waitForURL(`${base}/sessions`);
    expect(await page.textContent('h1')).toBe('Sessions');
  });

  it('the run is one session with its two turns, the tool it used and its tokens', async () => {
    const s = claudeSession();
    expect(s.flows.length).toBe(2);
    const row = page.locator(`table.sessions tbody tr[data-id="${s.id}"]`);
    await expect(row.textContent()).resolves.toContain(routeAgent);
    const cells = await row.locator('td').allTextContents();
    expect(cells[3]).toBe('2'); // turns
    expect(cells[4]).toBe(`${(2 * USAGE.input).toLocaleString('en-US')} / ${(2 * USAGE.output).toLocaleString('en-US')}`);
    expect(cells[5]).toBe('Read'); // tools used
    const findings = airlock.store.db.prepare('SELECT count(*) FROM findings WHERE flow_id IN (SELECT flow_id FROM session_turns WHERE session_id = ?)').pluck().get(s.id) as number;
    expect(findings).toBeGreaterThan(0);
    expect(cells[8]).toBe(String(findings));
    // The OpenAI session: the host the agent tried between its turns, and the denial.
    const openai = page.locator('table.sessions tbody tr', { hasText: 'gpt-4o' });
    const o = await openai.locator('td').allTextContents();
    expect([o[5], o[6], o[7]]).toEqual(['get_weather', 'weather.example.net', '1']);
    await shot('sessions');
    await row.locator('a.open').click();
    await page.waitForURL(`${base}/sessions/${s.id}`);
    const turns = page.locator('table.timeline tr.turn');
    expect(await turns.count()).toBe(2);
    expect(await turns.nth(0).textContent()).toContain('Turn 1');
    expect(await turns.nth(0).textContent()).toContain('tool_use');
    expect(await turns.nth(1).textContent()).toContain('end_turn');
    await shot('session');
  });

  it("a turn's view marks the messages new in it: the model's tool call with its input, the tool's result; the answer from the stream", async () => {
    const s = claudeSession();
    await page.click('table.timeline tr.turn >> nth=1 >> a.open');
    await page.waitForURL(`${base}/sessions/${s.id}/turns/2`);
    // What turn 1 sent is folded away; what is new is shown and marked.
    expect(await page.locator('details.earlier').getAttribute('open')).toBeNull();
    expect(await page.locator('details.earlier summary').textContent()).toMatch(/^\d+ earlier messages? \(sent in previous turns\)$/);
    const fresh = page.locator('ol.messages > li.msg.new:not(.answer)');
    expect(await fresh.count()).toBe(2);
    const [call, result] = [fresh.nth(0), fresh.nth(1)];
    expect(await call.getAttribute('class')).toContain('role-assistant');
    expect(await call.locator('.badge.new').textContent()).toBe('new in this turn');
    expect(await call.locator('.tool-call .tool-name').textContent()).toBe('Read');
    expect(JSON.parse((await call.locator('pre.tool-input').textContent())!)).toEqual({ file_path: path.join(work, 'notes.txt') });
    expect(await result.locator('.tool-result .tool-name').textContent()).toBe('Read');
    // What the tool read, as stored: the address DLP found is masked in place, the payload is text.
    const resultText = (await result.locator('.tool-result').textContent())!;
    expect(resultText).toContain('buy oat milk, ask [REDACTED:email-address]');
    expect(resultText).toContain('<img src=x onerror="window.__xss=7">');
    expect(resultText).not.toContain(EMAIL);
    expect(await result.locator('.tool-result mark').allTextContents()).toContain('[REDACTED:email-address]');
    expect(await page.locator('li.msg.answer').textContent()).toContain('The notes say: buy oat milk');
    // The marking is visible: new messages are drawn unlike the earlier ones.
    const style = (sel: string) => page.locator(sel).first().evaluate((e) => getComputedStyle(e).borderTopColor);
    await page.click('details.earlier summary');
    expect(await style('ol.messages > li.msg.new:not(.answer)')).not.toBe(await style('details.earlier li.msg'));
    // The system prompt is there, collapsed.
    expect(await page.locator('details.system').getAttribute('open')).toBeNull();
    await shot('turn');
    await expectNoScriptRan('turn view');
  });

  it('the flow page of that call shows the same conversation and links its session turn', async () => {
    const s = claudeSession();
    await page.goto(`${base}/flows/${s.flows[1]}`);
    expect(await page.locator('.turn-link').textContent()).toContain(`Turn 2 of session ${s.id}`);
    expect(await page.locator('section.conversation li.msg.new').count()).toBeGreaterThanOrEqual(2);
    await expectNoScriptRan('flow page');
  });

  it('an OpenAI Chat Completions call renders as a conversation, the answer assembled from its stream', async () => {
    const id = airlock.store.db.prepare("SELECT max(id) FROM flows WHERE host = 'api.openai.com'").pluck().get() as number;
    await page.goto(`${base}/flows/${id}`);
    const conv = page.locator('section.conversation');
    expect(await conv.locator('p.muted').first().textContent()).toContain('OpenAI Chat Completions');
    expect(await conv.locator('details.system pre').textContent()).toBe('You are terse.');
    const msgs = conv.locator('ol.messages > li.msg:not(.answer)');
    expect(await msgs.allTextContents()).toEqual([expect.stringContaining('Weather in Paris?'), expect.stringContaining('get_weather'), expect.stringContaining('sunny')]);
    expect(JSON.parse((await msgs.nth(1).locator('pre.tool-input').textContent())!)).toEqual({ city: 'Paris' });
    // Turn 2 of its session: the tool call and its result are what is new (the system prompt counts as sent before).
    expect(await conv.locator('ol.messages > li.msg.new:not(.answer) .msg-head .role').allTextContents()).toEqual(['assistant', 'tool']);
    expect(await msgs.nth(2).locator('.tool-result .tool-name').textContent()).toBe('get_weather');
    expect(await conv.locator('li.msg.answer').textContent()).toContain('It is sunny in Paris.');
    await shot('openai');
  });

  it('a Gemini streamGenerateContent call renders as a conversation', async () => {
    const id = airlock.store.db.prepare("SELECT max(id) FROM flows WHERE host = 'generativelanguage.googleapis.com'").pluck().get() as number;
    await page.goto(`${base}/flows/${id}`);
    const conv = page.locator('section.conversation');
    expect(await conv.locator('p.muted').first().textContent()).toContain('Google Gemini');
    expect(await conv.locator('p.muted').first().textContent()).toContain('gemini-2.5-flash-001');
    const msgs = conv.locator('ol.messages > li.msg:not(.answer)');
    expect(await msgs.count()).toBe(3);
    expect(await msgs.nth(1).locator('.tool-call .tool-name').textContent()).toBe('get_weather');
    expect(await msgs.nth(2).locator('.tool-result').textContent()).toContain('sunny');
    expect(await conv.locator('li.msg.answer').textContent()).toContain('Paris is sunny today.');
  });

  it('the agents page plots each agent over time with the estimated cost from the policy prices', async () => {
    await page.goto(`${base}/agents`);
    const row = page.locator('table.agents tbody tr', { hasText: routeAgent });
    const cells = await row.locator('td').allTextContents();
    expect(cells[5]).toBe('2'); // LLM calls
    // 2 calls x (1200 in x 3 + 80 out x 15) per million tokens.
    expect(cells[8]).toBe(((2 * (USAGE.input * 3 + USAGE.output * 15)) / 1e6).toFixed(4));
    const plots = page.locator(`section.agent-plots[aria-label="agent ${routeAgent}"] svg.chart`);
    expect(await plots.count()).toBe(3);
    expect(await plots.first().getAttribute('aria-label')).toContain(`LLM tokens per day by model: ${routeAgent}`);
    expect(await page.locator('table.prices').textContent()).toContain('claude-*');
    await shot('agents');
  });

  it('the session exports as HAR from its page and as JSONL from the CLI', async () => {
    const s = claudeSession();
    const har = await page.request.get(`${base}/sessions/${s.id}/har`);
    expect(har.headers()['content-disposition']).toContain(`airlock-session-${s.id}.har`);
    const doc = (await har.json()) as { log: { entries: { request: { url: string }; _airlock: { id: number } }[] } };
    expect(doc.log.entries.map((e) => e._airlock.id).filter((id) => s.flows.includes(id))).toEqual(s.flows);
    expect(JSON.stringify(doc)).not.toContain(REAL_KEY);
    let out = '';
    expect(await runSessions(['export', '--db', airlock.config.store.path], { out: (t) => void (out += t), err: () => {} })).toBe(0);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBe((airlock.store.db.prepare('SELECT count(*) FROM llm_sessions').pluck().get() as number));
    const mine = lines.find((l) => l.id === s.id);
    expect(mine).toMatchObject({ agent: routeAgent, turns: 2, turn_flows: s.flows, tools: ['Read'] });
    expect(mine.flows).toEqual(expect.arrayContaining(s.flows));
  });
});
