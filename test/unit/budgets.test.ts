// Budgets, prices and MCP tool rules: every problem in the policy named by its path, and the
// budget counter's windows, agents, host rules, spend and shares of request limits (a counter
// store in memory stands in for the writer thread; the integration tests use the real one).
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createBudgets } from '../../proxy/budgets/budgets.ts';
import type { LlmInfo } from '../../proxy/llm.ts';
import { firstDenied, readRpc, toolDenied } from '../../proxy/stages/mcp.ts';
import type { CounterRow, CounterStore } from '../../proxy/store/writer.ts';
import { parsePolicy } from '../../policies/parse.ts';
import type { Config } from '../../policies/types.ts';

const opts = { baseDir: '/tmp', env: {}, defaultDataDir: '/tmp/airlock-default' };
const base = 'listen: { proxy: 127.0.0.1:8080 }\nhosts: [{ name: anthropic, match: api.anthropic.com }]\n';

function config(yaml: string): Config {
  const r = parsePolicy(parse(base + yaml), opts);
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.config;
}

describe('policy: prices, budgets, mcp', () => {
  it.each([
    ['budgets not a list', 'budgets: { name: x }', ['budgets: expected a list']],
    ['no name, no limit', 'budgets: [{ agents: [alice] }]', ['budgets[0].name: required: the name the 429 and /metrics report', 'budgets[0]: set at least one of requests_per_minute, tokens_per_hour, tokens_per_day, spend_per_day']],
    ['bad limit', 'budgets: [{ name: b, tokens_per_hour: 0, requests_per_minute: 1.5 }]', ['budgets[0].requests_per_minute: expected a whole number of at least 1', 'budgets[0].tokens_per_hour: expected a whole number of at least 1']],
    ['unknown rule', 'budgets: [{ name: b, rules: [anthropic, openai], tokens_per_day: 10 }]', ['budgets[0].rules[1]: no hosts rule is named "openai"']],
    ['duplicate name', 'budgets: [{ name: b, tokens_per_day: 10 }, { name: b, tokens_per_day: 20 }]', ['budgets[1].name: "b" is already used by budgets[0]']],
    ['spend without prices', 'budgets: [{ name: b, spend_per_day: 5 }]', ['budgets[0].spend_per_day: needs `prices`: spend is estimated from the price of each model']],
    ['typo', 'budgets: [{ name: b, tokens_per_hours: 10 }]', ['budgets[0].tokens_per_hours: unknown key (did you mean "tokens_per_hour"?)', 'budgets[0]: set at least one of requests_per_minute, tokens_per_hour, tokens_per_day, spend_per_day']],
    ['tokens need bodies', 'store: { body_cap_bytes: 0 }\nbudgets: [{ name: b, tokens_per_day: 10 }]', ['budgets[0]: tokens and spend are read from stored responses: store.body_cap_bytes must not be 0']],
    ['bad agent', 'budgets: [{ name: b, agents: ["a b"], tokens_per_day: 10 }]', ['budgets[0].agents[0]: expected a Proxy-Authorization user name (printable ASCII without ":" or spaces, up to 128) or "listener:ADDR"']],
    ['price missing output', 'prices: { "claude-*": { input: 3 } }', ['prices.claude-*.output: required: the price per million tokens']],
    ['price negative', 'prices: { "gpt-*": { input: -1, output: 2 } }', ['prices.gpt-*.input: expected a price per million tokens (a number from 0)']],
    ['mcp not mapping', 'hosts: [{ name: m, match: mcp.example, mcp: [read_*] }]', ['hosts[0].mcp: expected a mapping']],
    ['mcp bad glob', 'hosts: [{ name: m, match: mcp.example, mcp: { tools: ["read file"], deny: [] } }]', ['hosts[0].mcp.tools[0]: a tool name or glob (letters, digits, _ - . / and *)', 'hosts[0].mcp.deny: must not be empty; leave the key out instead']],
    ['mcp max_body', 'hosts: [{ name: m, match: mcp.example, mcp: { max_body: 1GiB } }]', ['hosts[0].mcp.max_body: out of range (1KiB to 64MiB)']],
  ])('%s', (_, yaml, expected) => {
    const r = parsePolicy(parse(`listen: { proxy: 127.0.0.1:8080 }\n${yaml.startsWith('hosts:') ? '' : 'hosts: [{ name: anthropic, match: api.anthropic.com }]\n'}${yaml}`), opts);
    expect(r).toEqual({ ok: false, errors: expected });
  });

  it('a valid budget, price table and MCP rule', () => {
    const c = config('prices: { "claude-sonnet-*": { input: 3, output: 15 } }\nbudgets: [{ name: b, agents: [alice, "listener:127.0.0.1:8080"], rules: [anthropic], requests_per_minute: 60, tokens_per_hour: 1000, spend_per_day: 2.5 }]\n');
    expect(c.budgets[0]).toMatchObject({ name: 'b', agents: ['alice', 'listener:127.0.0.1:8080'], rules: ['anthropic'] });
    expect(c.budgets[0].limits.map((l) => [l.key, l.window, l.max])).toEqual([
      ['requests_per_minute', 'minute', 60],
      ['tokens_per_hour', 'hour', 1000],
      ['spend_per_day', 'day', 2_500_000],
    ]);
    const m = parsePolicy(parse(`${base.replace('hosts: [', 'hosts: [{ name: files, match: mcp.example, mcp: { tools: [read_*, list], deny: [read_secret*] } }, ')}`), opts);
    expect(m.ok && m.config.hosts[0].mcp).toEqual({ tools: ['read_*', 'list'], deny: ['read_secret*'], maxBodyBytes: 1024 * 1024 });
    expect(m.ok && m.config.hosts[0].explain).toContain('MCP tools read_*, list except read_secret* (calls recorded)');
  });
});

/** Counters in memory, behaving as counters.cjs does (shared between "processes" when passed to both). */
function memoryStore(): CounterStore & { rows: Map<string, number>; claims: number } {
  const rows = new Map<string, number>();
  const s = {
    rows,
    claims: 0,
    async claim(key: [string, string, string, number], want: number, max: number) {
      s.claims++;
      const k = key.join('|');
      const used = rows.get(k) ?? 0;
      const g = Math.max(0, Math.min(want, max - used));
      rows.set(k, used + g);
      return g;
    },
    add(r: CounterRow[]) {
      for (const [b, a, m, w, d] of r) rows.set([b, a, m, w].join('|'), (rows.get([b, a, m, w].join('|')) ?? 0) + d);
    },
    async read(from: number) {
      return [...rows].map(([k, v]) => [...k.split('|').map((x, i) => (i === 3 ? Number(x) : x)), v] as CounterRow).filter((r) => r[3] >= from);
    },
    readNow(from: number) {
      return [...rows].map(([k, v]) => [...k.split('|').map((x, i) => (i === 3 ? Number(x) : x)), v] as CounterRow).filter((r) => r[3] >= from);
    },
  };
  return s;
}

const info = (inputTokens: number, outputTokens: number, model = 'claude-sonnet-4-5'): LlmInfo => ({ provider: 'anthropic', model, inputTokens, outputTokens, stopReason: 'end_turn', tools: [], called: [] });
const T0 = Date.UTC(2026, 0, 1, 10, 0, 0);

async function admit(b: ReturnType<typeof createBudgets>, c: Config, agent: string | undefined, now: number, rule = 'anthropic') {
  const r = b.admit(c, rule, agent, '127.0.0.1:8080', now);
  return r instanceof Promise ? await r : r;
}

describe('budget counters', () => {
  it('tokens per hour: refused once used up, until the next hour; each agent on its own; only the rules named', async () => {
    const c = config('budgets: [{ name: b, rules: [anthropic], tokens_per_hour: 1000 }]\n');
    const b = createBudgets(memoryStore(), T0);
    expect(await admit(b, c, 'alice', T0)).toBeNull();
    b.used(c, 'anthropic', 'alice', '127.0.0.1:8080', info(900, 99), T0);
    expect(await admit(b, c, 'alice', T0 + 1)).toBeNull(); // 999 < 1000
    b.used(c, 'anthropic', 'alice', '127.0.0.1:8080', info(1, 0), T0 + 2);
    expect(await admit(b, c, 'alice', T0 + 3)).toEqual({ budget: 'b', limit: 'tokens_per_hour', window: 'hour', max: 1000, used: 1000, resetsAt: T0 + 3_600_000 });
    expect(await admit(b, c, 'bob', T0 + 3)).toBeNull();
    expect(await admit(b, c, undefined, T0 + 3)).toBeNull(); // listener:127.0.0.1:8080
    expect(await admit(b, c, 'alice', T0 + 3, 'other-rule')).toBeNull();
    expect(await admit(b, c, 'alice', T0 + 3_600_000)).toBeNull();
    b.close();
  });

  it('spend per day from the price table; a model without a price costs nothing', async () => {
    const c = config('prices: { "claude-*": { input: 3, output: 15 } }\nbudgets: [{ name: s, spend_per_day: 0.01 }]\n');
    const b = createBudgets(memoryStore(), T0);
    b.used(c, 'anthropic', 'alice', 'l', info(1000, 100, 'gpt-unpriced'), T0);
    expect(await admit(b, c, 'alice', T0)).toBeNull();
    b.used(c, 'anthropic', 'alice', 'l', info(1000, 100), T0); // 0.003 + 0.0015
    expect(await admit(b, c, 'alice', T0)).toBeNull();
    b.used(c, 'anthropic', 'alice', 'l', info(1000, 300), T0); // + 0.003 + 0.0045 = 0.012
    expect(await admit(b, c, 'alice', T0)).toMatchObject({ budget: 's', limit: 'spend_per_day', max: 10_000, used: 12_000, resetsAt: Date.UTC(2026, 0, 2) });
    b.close();
  });

  it('requests per minute: shares claimed from the store, so two airlocks on one store admit the limit together', async () => {
    const c = config('budgets: [{ name: r, requests_per_minute: 40 }]\n');
    const store = memoryStore();
    const [one, two] = [createBudgets(store, T0), createBudgets(store, T0)];
    let admitted = 0;
    for (let i = 0; i < 100; i++) if ((await admit(i % 3 ? one : two, c, 'alice', T0 + i)) === null) admitted++;
    expect(admitted).toBe(40);
    // In shares of two (a twentieth of the limit), not a claim per request.
    expect(store.claims).toBeLessThanOrEqual(40 / 2 + 4);
    expect(await admit(one, c, 'alice', T0 + 60_000)).toBeNull();
    one.close();
    two.close();
  });

  it('a restart goes on from the counts in the store', async () => {
    const c = config('budgets: [{ name: b, tokens_per_day: 100 }]\n');
    const store = memoryStore();
    const first = createBudgets(store, T0);
    first.used(c, 'anthropic', 'alice', 'l', info(80, 30), T0);
    first.close();
    const second = createBudgets(store, T0 + 1000);
    expect(await admit(second, c, 'alice', T0 + 1000)).toMatchObject({ used: 110, max: 100 });
    expect(second.snapshot(c, T0 + 1000)).toEqual([{ budget: 'b', agent: 'alice', limit: 'tokens_per_day', used: 110, max: 100 }]);
    second.close();
  });
});

describe('MCP tool rules', () => {
  const policy = { tools: ['read_*', 'list'], deny: ['read_secret*'], maxBodyBytes: 1024 };
  it('deny wins over tools; a tool outside tools is denied; names compare exactly', () => {
    expect(toolDenied(policy, 'read_file')).toBeNull();
    expect(toolDenied(policy, 'list')).toBeNull();
    expect(toolDenied(policy, 'read_secrets')).toBe('mcp.deny read_secret*');
    expect(toolDenied(policy, 'delete_file')).toBe('not in mcp.tools (read_*, list)');
    expect(toolDenied(policy, 'READ_file')).toBe('not in mcp.tools (read_*, list)');
    expect(toolDenied(policy, 'list2')).toBe('not in mcp.tools (read_*, list)');
    expect(toolDenied({ deny: [], maxBodyBytes: 1024 }, 'anything')).toBeNull();
  });
  it('reads JSON-RPC requests, notifications, responses and batches; refuses what is not JSON-RPC', () => {
    const r = readRpc(Buffer.from(JSON.stringify([{ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'delete_file' } }, { jsonrpc: '2.0', method: 'notifications/x' }, { jsonrpc: '2.0', id: 1, result: {} }])));
    expect(r).toEqual({ ok: true, calls: [{ method: 'tools/call', tool: 'delete_file', id: 7 }, { method: 'notifications/x', tool: null, id: null }] });
    expect(r.ok && firstDenied(policy, r.calls)).toMatchObject({ call: { tool: 'delete_file' } });
    expect(readRpc(Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}'))).toEqual({ ok: false, reason: 'a tools/call names no tool' });
    expect(readRpc(Buffer.from('{"id":1,"method":"x"}'))).toEqual({ ok: false, reason: 'the MCP request body is not JSON-RPC 2.0' });
    expect(readRpc(Buffer.from('[]'))).toEqual({ ok: false, reason: 'the MCP request body is an empty batch' });
    expect(readRpc(Buffer.from('{'))).toEqual({ ok: false, reason: 'the MCP request body is not JSON' });
  });
});
