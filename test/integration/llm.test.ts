// LLM-aware fields: a streamed Anthropic Messages response through a base-URL route, against a
// real airlock, a real upstream and real curl; stored, hashed, shown and exported.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFlows } from '../../proxy/cli/flows.ts';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { run } from '../helpers/run.ts';
import { type TestUpstream, startTlsUpstream } from '../helpers/upstream.ts';

const KEY = 'sk-ant-llm-test-SECRET-0b7e';
let api: TestUpstream;
let airlock: TestAirlock;
let dir: string;

beforeAll(async () => {
  dir = tempDir();
  const { ip, pki, up: started } = await startTlsUpstream(dir, ['api.test']);
  api = started;
  airlock = await startTestAirlock(
    `
routes:
  - listen: 127.0.0.1:0
    upstream: https://api.test
upstream:
  ca_files: [${pki.caCert}]
  resolve: { api.test: ${ip} }
hosts:
  - name: anthropic
    match: api.test
    inject: { headers: { x-api-key: env:LLM_TEST_KEY } }
`,
    { LLM_TEST_KEY: KEY },
    dir,
  );
});

afterAll(async () => {
  await airlock?.close();
  await api?.close();
});

async function flows(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runFlows([...args, '--db', airlock.config.store.path], { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

const request = JSON.stringify({
  model: 'claude-sonnet-4-5',
  max_tokens: 1024,
  stream: true,
  tools: [{ name: 'get_weather', description: 'Current weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } } }],
  messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
});

describe('LLM fields', () => {
  it('a streamed Anthropic Messages call through a base-URL route is stored with model, tokens, stop reason and tools', async () => {
    const base = `http://${airlock.addresses.routes[0].address}`;
    const r = await run('curl', ['-sS', '-N', '-H', 'content-type: application/json', '-H', 'anthropic-version: 2023-06-01', '--data', request, `${base}/v1/messages`]);
    expect(r.stdout).toContain('event: message_stop');
    await run('curl', ['-sS', '-o', '/dev/null', `${base}/echo`]); // not an LLM call
    await airlock.store.flush();

    const row = airlock.store.db
      .prepare("SELECT entry, llm_provider, llm_model, llm_input_tokens, llm_output_tokens, llm_stop_reason, llm_tools FROM flows WHERE path = '/v1/messages'")
      .get();
    expect(row).toEqual({
      entry: 'route',
      llm_provider: 'anthropic',
      llm_model: 'claude-sonnet-4-5-20250929',
      llm_input_tokens: 472,
      llm_output_tokens: 89,
      llm_stop_reason: 'tool_use',
      llm_tools: '["get_weather"]',
    });
    expect(airlock.store.db.prepare("SELECT llm_provider, llm_model, llm_tools FROM flows WHERE path = '/echo'").get()).toEqual({ llm_provider: null, llm_model: null, llm_tools: null });

    const id = (airlock.store.db.prepare("SELECT id FROM flows WHERE path = '/v1/messages'").get() as { id: number }).id;
    const shown = await flows('show', String(id));
    expect(shown.out).toContain('llm: anthropic claude-sonnet-4-5-20250929; tokens in 472, out 89; stop tool_use; tools get_weather');

    const out = path.join(dir, 'flows.jsonl');
    expect((await flows('export', '--format', 'jsonl', '--out', out)).code).toBe(0);
    const rec = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((x) => x.id === id);
    expect(rec).toMatchObject({ llm_provider: 'anthropic', llm_model: 'claude-sonnet-4-5-20250929', llm_input_tokens: 472, llm_output_tokens: 89, llm_stop_reason: 'tool_use', llm_tools: ['get_weather'] });

    expect((await flows('list', '--text', 'get_weather')).out).toContain('/v1/messages');
  });

  it('the LLM columns are in the hash chain', async () => {
    expect((await flows('verify')).out).toMatch(/^ok: 2 flows verified/);
    await airlock.close();
    const Database = (await import('better-sqlite3')).default;
    const raw = new Database(airlock.config.store.path);
    raw.prepare("UPDATE flows SET llm_output_tokens = 1 WHERE path = '/v1/messages'").run();
    raw.close();
    const bad = await flows('verify');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/hash mismatch/);
  });
});
