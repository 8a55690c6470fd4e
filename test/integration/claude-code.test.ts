// Claude Code, the real CLI from npm (`claude -p`), through a real airlock to a fake Messages API
// on loopback: learn a policy in report mode, write it with `airlock policy suggest`, and run the
// agent again under it with nothing denied; the claude-code preset does the same with the key
// injected (the agent holds only a placeholder).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { makeUpstreamPki } from '../helpers/certs.ts';
import { BIN } from '../helpers/cli.ts';
import { FAKE_REPLY, type FakeAnthropic, startFakeAnthropic } from '../helpers/fake-anthropic.ts';
import { run } from '../helpers/run.ts';
import { loopbackIp } from '../helpers/upstream.ts';

const CLAUDE = path.resolve('node_modules/.bin/claude');
const REAL_KEY = 'sk-ant-api03-REAL-KEY-only-airlock-holds-0123456789';
const PLACEHOLDER = 'airlock-placeholder-anthropic';
let dir: string;
let ip: string;
let caFile: string;
let api: FakeAnthropic;
const airlocks: TestAirlock[] = [];

beforeAll(async () => {
  dir = tempDir();
  ip = loopbackIp();
  const pki = makeUpstreamPki(path.join(dir, 'pki'), ['api.anthropic.com']);
  caFile = pki.caCert;
  api = await startFakeAnthropic(pki, ip);
});

afterAll(async () => {
  for (const a of airlocks) await a.close();
  await api?.close();
});

/** Where the fake API lives; listen on a free port; the rest is the test's. */
function policy(rest: string): string {
  return `listen:\n  proxy: 127.0.0.1:0\nupstream:\n  ca_files: [${caFile}]\n  resolve: { api.anthropic.com: ${ip} }\n${rest}`;
}

async function start(name: string, yaml: string, env: NodeJS.ProcessEnv = {}): Promise<TestAirlock> {
  const d = path.join(dir, name);
  fs.mkdirSync(d);
  const a = await startTestAirlock(yaml, env, d);
  airlocks.push(a);
  return a;
}

/** `claude -p` as a user runs it, with its own empty home, through airlock. */
async function claude(a: TestAirlock, key: string, timeoutMs = 50_000) {
  const home = fs.mkdtempSync(path.join(dir, 'home-'));
  return run(CLAUDE, ['-p', 'Say hello.'], {
    timeoutMs,
    cwd: home,
    env: { HOME: home, HTTPS_PROXY: a.proxyUrl, HTTP_PROXY: a.proxyUrl, NO_PROXY: '', NODE_EXTRA_CA_CERTS: a.caCertPath, ANTHROPIC_API_KEY: key },
  });
}

async function flows(a: TestAirlock) {
  await a.store.flush();
  return a.store.db.prepare('SELECT id, decision, code, reason, method, host, path FROM flows ORDER BY id').all() as {
    id: number;
    decision: string;
    code: string | null;
    reason: string | null;
    method: string;
    host: string;
    path: string;
  }[];
}

describe('Claude Code: learn in report mode, suggest, enforce', () => {
  let learned: TestAirlock;
  let fragment: string;

  it('report mode lets the whole session through and records each request the policy would deny as would_deny with its reason', async () => {
    learned = await start('learn', policy('mode: report\n'));
    const r = await claude(learned, 'sk-ant-agent-own-key');
    expect(r.stdout, r.stderr).toContain(FAKE_REPLY);
    expect(r.code).toBe(0);
    const rows = await flows(learned);
    expect(rows.length).toBeGreaterThan(1);
    expect(rows.filter((f) => f.decision !== 'would_deny')).toEqual([]);
    for (const f of rows) expect(f).toMatchObject({ code: 'host_not_allowed', reason: 'host is not in the policy', host: 'api.anthropic.com' });
    expect(rows.some((f) => f.method === 'POST' && f.path === '/v1/messages')).toBe(true);
  });

  it('airlock policy suggest turns the recorded run into a fragment: methods, path prefixes, counts and example flows', async () => {
    const r = await run(process.execPath, [BIN, 'policy', 'suggest', '--db', learned.config.store.path]);
    expect(r.code, r.stderr).toBe(0);
    fragment = r.stdout;
    expect(fragment).toMatch(/^ {2}- name: "api\.anthropic\.com"\n {4}match: "api\.anthropic\.com"\n {4}methods: \[.*POST.*\]\n {4}paths: \[.*"\/v1\/".*\]/m);
    expect(fragment).toMatch(/# \d+ flows \(would_deny \d+\); e\.g\. flows \d+, \d+, \d+/);
  });

  it('under the suggested policy, enforced, a second run completes with no denial', async () => {
    const enforced = await start('enforce', policy(fragment));
    expect(enforced.config.mode).toBe('enforce');
    const r = await claude(enforced, 'sk-ant-agent-own-key');
    expect(r.stdout, r.stderr).toContain(FAKE_REPLY);
    const rows = await flows(enforced);
    expect(rows.length).toBeGreaterThan(1);
    expect(rows.filter((f) => f.decision !== 'allow')).toEqual([]);
  });

  it('without the fragment the same run is denied (the policy is what lets it through)', async () => {
    const bare = await start('bare', policy('hosts: []\n'));
    // Claude Code retries a refused API for a long time: stopped after 15 s, the store has seen enough.
    const r = await claude(bare, 'sk-ant-agent-own-key', 15_000);
    expect(r.stdout).not.toContain(FAKE_REPLY);
    expect((await flows(bare)).filter((f) => f.decision === 'deny').length).toBeGreaterThan(0);
  });
});

describe('the claude-code preset', () => {
  it('claude -p completes with only a placeholder key; the fake API gets the real one; nothing is denied', async () => {
    const a = await start(
      'preset',
      policy(`include:\n  - preset: claude-code\n    secret: env:ANTHROPIC_API_KEY\n    placeholder: ${PLACEHOLDER}\n`),
      { ANTHROPIC_API_KEY: REAL_KEY },
    );
    const before = api.seen.length;
    const r = await claude(a, PLACEHOLDER);
    expect(r.stdout, r.stderr).toContain(FAKE_REPLY);
    expect(r.code).toBe(0);
    const rows = await flows(a);
    expect(rows.length).toBeGreaterThan(1);
    expect(rows.filter((f) => f.decision !== 'allow')).toEqual([]);
    const seen = api.seen.slice(before);
    expect(seen.filter((s) => s.path === '/v1/messages').every((s) => s.apiKey === REAL_KEY)).toBe(true);
    expect(seen.some((s) => s.apiKey === PLACEHOLDER)).toBe(false);
  });
});
