// The flow store's suite, run against both stores: the embedded SQLite file and PostgreSQL (a real
// server, test/helpers/postgres.ts). The same flows go in through the real FlowStore and its
// writer thread; the same answers must come out of the readers (store/reader.ts) the CLI, the API
// and the web UI use: every column, bodies stored by content and read back byte for byte, DLP
// findings, LLM fields, which instance handled each flow, one hash chain per instance that
// `flows verify` checks and that catches a changed row or a changed shared chunk, full-text
// search, filters and overviews, and retention that keeps exactly the chunks still needed.
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { newFlowBodies } from '../../proxy/capture.ts';
import { type Flow, newFlow } from '../../proxy/flow.ts';
import { harEntry, jsonlRecord } from '../../proxy/cli/flows.ts';
import { decodeIds, unpack } from '../../proxy/store/bodies.ts';
import type { FlowReader } from '../../proxy/store/reader.ts';
import { BACKENDS, closeStores, dropStores, openStore, type StoreUnderTest } from '../helpers/store-backends.ts';

afterEach(closeStores);
afterAll(dropStores);

function flowWith(request: Buffer, response = Buffer.alloc(0), more: Partial<Flow> = {}, contentType = 'application/json'): Flow {
  const flow = newFlow({ entry: 'route', listener: 'l', client: '10.0.0.9', method: 'POST', scheme: 'https', host: 'api.test', port: 443, path: '/v1/messages', ...more });
  flow.requestHeaders = { 'content-type': contentType, 'x-trace': 'trace-token-1' };
  flow.responseHeaders = { 'content-type': 'application/json' };
  flow.bodies = newFlowBodies(1024 * 1024, null); // a rule that injects no key: nothing to scrub
  if (request.length) flow.bodies.request.add(request);
  if (response.length) flow.bodies.response.add(response);
  flow.bytesUp = request.length;
  flow.bytesDown = response.length;
  return flow;
}

const plain = (more: Partial<Flow> = {}) => newFlow({ entry: 'explicit', listener: '127.0.0.1:8080', client: '127.0.0.1', method: 'GET', scheme: 'https', host: 'h.test', port: 443, path: '/', ...more });

/** A conversation's request body at turn t: every message so far, as agents resend it. */
function turn(messages: string[], t: number): Buffer {
  return Buffer.from(JSON.stringify({ model: 'm', max_tokens: 10, messages: messages.slice(0, t).map((content, i) => ({ role: i % 2 ? 'assistant' : 'user', content })) }));
}

const ids = async (r: FlowReader, f: Parameters<FlowReader['list']>[0], limit = 100) => (await r.list(f, { order: 'ASC', limit })).map((x) => x.id);
const requestOf = async (s: StoreUnderTest, id: number) => (await s.reader.bodies(id)).find((b) => b.direction === 'request')!;

async function chunks(s: StoreUnderTest): Promise<{ id: number; owner: number; deflated: number; text: string }[]> {
  const rows = await s.sql<{ id: number; owner: number; deflated: number; data: Buffer }>('SELECT id, owner, deflated, data FROM chunks ORDER BY id');
  return rows.map((c) => ({ id: Number(c.id), owner: Number(c.owner), deflated: Number(c.deflated), text: unpack(c.data, Number(c.deflated)).toString() }));
}

describe.each(BACKENDS)('%s store', (backend) => {
  it('keeps every column, body, finding and LLM field as recorded, and which instance handled the flow', async () => {
    const s = await openStore(backend, { instance: 'pod-a' });
    const req = Buffer.from(JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'héllo wörld' }] }));
    const res = Buffer.from(
      JSON.stringify({ model: 'claude-sonnet-4-5', stop_reason: 'tool_use', usage: { input_tokens: 12, output_tokens: 34 }, content: [{ type: 'tool_use', name: 'get_weather' }] }),
    );
    const f = flowWith(req, res, { status: 200, agentUser: 'agent-1', query: 'beta=1', ttfbMs: 12.25, totalMs: 40.5, injected: ['x-api-key'] });
    f.findings = [{ ruleId: 'aws-access-key-id', location: 'request body', offset: 12, action: 'log', preview: 'AKIA…MPLE' } as never];
    s.store.record(f);
    const binary = crypto.randomBytes(5000);
    s.store.record(flowWith(binary, Buffer.alloc(0), { path: '/upload' }, 'application/octet-stream'));
    s.store.record(plain({ decision: 'deny', code: 'host_not_allowed', reason: 'host is not in the policy', status: 403, host: 'nope.test', path: '/x\0y' }));
    await s.store.flush();

    const r1 = (await s.reader.flow('1'))!;
    expect(r1).toMatchObject({
      id: 1,
      flow_id: f.id,
      instance: 'pod-a',
      method: 'POST',
      host: 'api.test',
      path: '/v1/messages',
      query: 'beta=1',
      status: 200,
      agent_user: 'agent-1',
      ttfb_ms: 12.25,
      total_ms: 40.5,
      injected: '["x-api-key"]',
      llm_provider: 'anthropic',
      llm_model: 'claude-sonnet-4-5',
      llm_input_tokens: 12,
      llm_output_tokens: 34,
      llm_stop_reason: 'tool_use',
      llm_tools: '["get_weather"]',
    });
    expect(JSON.parse(r1.request_headers!)).toEqual({ 'content-type': 'application/json', 'x-trace': 'trace-token-1' });
    expect(await s.reader.flow(f.id)).toEqual(r1);
    const bodies = await s.reader.bodies(1);
    expect(bodies.map((b) => [b.direction, b.content_type, b.size, b.truncated, b.data!.toString()])).toEqual([
      ['request', 'application/json', req.length, 0, req.toString()],
      ['response', 'application/json', res.length, 0, res.toString()],
    ]);
    expect((await requestOf(s, 2)).data!.equals(binary)).toBe(true);
    expect(await s.reader.findings(1)).toMatchObject([{ flow_id: 1, rule_id: 'aws-access-key-id', location: 'request body@12', action: 'log', preview: 'AKIA…MPLE' }]);
    // A list row names the instance and counts the findings.
    const rows = await s.reader.list({}, { order: 'ASC', limit: 10 });
    expect(rows.map((r) => [r.id, r.instance, r.findings, r.decision])).toEqual([
      [1, 'pod-a', 1, 'allow'],
      [2, 'pod-a', 0, 'allow'],
      [3, 'pod-a', 0, 'deny'],
    ]);
    // PostgreSQL text cannot hold NUL: both stores give back the same (SQLite keeps it).
    const r3 = (await s.reader.flow('3'))!;
    expect(r3.path).toBe(backend === 'sqlite' ? '/x\0y' : '/x\u2400y');
    // Exports read the same rows and bodies.
    expect(jsonlRecord(r1, bodies)).toMatchObject({ instance: 'pod-a', llm_tools: ['get_weather'], bodies: [{ text: req.toString() }, { text: res.toString() }] });
    expect(harEntry(r1, bodies)).toMatchObject({ request: { url: 'https://api.test/v1/messages?beta=1', postData: { text: req.toString() } } });
    expect(await s.reader.instances()).toMatchObject([{ name: 'pod-a', head_id: 3 }]);
    expect(await s.reader.verify()).toMatchObject({ ok: true, verified: 3, chains: [{ instance: 'pod-a', verified: 3 }] });
  });

  it('stores a conversation resent turn after turn by content: each message once, every turn read back byte for byte', async () => {
    const s = await openStore(backend);
    const messages = Array.from({ length: 20 }, (_, i) => `message ${i} ${crypto.randomBytes(1200).toString('base64')}`);
    const sent = Array.from({ length: messages.length }, (_, t) => turn(messages, t + 1));
    for (const body of sent) s.store.record(flowWith(body));
    await s.store.flush();
    for (const [i, body] of sent.entries()) expect((await requestOf(s, i + 1)).data!.equals(body), `turn ${i + 1}`).toBe(true);
    const stored = (await chunks(s)).reduce((n, c) => n + c.text.length, 0);
    const last = sent[sent.length - 1].length;
    const total = sent.reduce((a, b) => a + b.length, 0);
    expect(stored).toBeLessThan(last * 1.2); // each message once, not the ~10x the turns add up to
    expect(total).toBeGreaterThan(last * 8);
    expect(await s.reader.verify()).toMatchObject({ ok: true, verified: messages.length });
  });

  it('groups LLM calls into sessions, keeps MCP calls, and the readers serve sessions and agents', async () => {
    const s = await openStore(backend);
    const answer = (n: number) => Buffer.from(JSON.stringify({ model: 'm', stop_reason: 'end_turn', usage: { input_tokens: n, output_tokens: 1 }, content: [{ type: 'text', text: 'ok' }] }));
    const talk = ['plan the trip', 'here is a plan', 'book it'];
    const other = ['something else entirely'];
    const t0 = Date.now() - 60_000;
    s.store.record(flowWith(turn(talk, 1), answer(10), { agentUser: 'agent-1', status: 200, startedAt: t0 }));
    s.store.record(flowWith(turn(other, 1), answer(5), { agentUser: 'agent-1', status: 200, startedAt: t0 + 1000 }));
    s.store.record(plain({ agentUser: 'agent-1', host: 'tools.test', decision: 'deny', code: 'host_not_allowed', startedAt: t0 + 1500 }));
    s.store.record(flowWith(turn(talk, 2), answer(20), { agentUser: 'agent-1', status: 200, startedAt: t0 + 2000 }));
    const rpc = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'search', arguments: { q: 'flights' } } }));
    const mcp = flowWith(rpc, Buffer.from('{}'), { agentUser: 'agent-1', host: 'mcp.test', path: '/mcp', status: 200, startedAt: t0 + 2500 });
    mcp.mcp = [{ method: 'tools/call', tool: 'search', id: '7' }];
    s.store.record(mcp);
    s.store.record(flowWith(turn(talk, 3), answer(30), { agentUser: 'agent-1', status: 200, startedAt: t0 + 3000 }));
    await s.store.flush();

    const llm = s.reader.llm;
    const { rows } = await llm.list({ limit: 10 });
    expect(rows.map((r) => [r.agent, r.turns, r.tokens_in])).toEqual([
      ['agent-1', 1, 5],
      ['agent-1', 3, 60],
    ]);
    const trip = rows[1];
    expect(trip).toMatchObject({ provider: 'anthropic', models: ['m'], denials: 1 });
    expect(trip.hosts.map((h) => h.host).sort()).toEqual(['api.test', 'mcp.test', 'tools.test']);
    expect((await llm.turns(trip.id)).map((t) => [t.flow_id, t.turn, t.messages, t.new_from])).toEqual([
      [1, 1, 1, 0],
      [4, 2, 2, 1],
      [6, 3, 3, 2],
    ]);
    expect(await llm.turnOfFlow(4)).toMatchObject({ session_id: trip.id, turn: 2 });
    expect(await llm.flowIds(trip)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await llm.between(trip)).map((b) => [b.id, b.mcp_tool])).toEqual([
      [2, null],
      [3, null],
      [5, 'search'],
    ]);
    expect(await llm.sessionAgents()).toEqual(['agent-1']);
    expect(await llm.mcpCalls(5)).toEqual([{ seq: 0, method: 'tools/call', tool: 'search', rpc_id: '7', arguments: '{"q":"flights"}' }]);
    const a = await llm.agents(t0 - 1, Date.now());
    expect(a.agents).toMatchObject([{ agent: 'agent-1', n: 6, denials: 1, llm_calls: 4, tokens_in: 65, sessions: 2 }]);
    expect(a.days.reduce((n, d) => n + d.n, 0)).toBe(6);
    expect(a.models).toMatchObject([{ agent: 'agent-1', model: 'm', calls: 4, tokens_in: 65 }]);
    // Retention takes a session with its newest call.
    await s.sql('DELETE FROM flows WHERE id >= 2');
    await s.sql('DELETE FROM llm_sessions WHERE last_flow >= 2');
    expect((await llm.list({ limit: 10 })).rows).toEqual([]);
  });

  it('budget counters: claims never grant past the limit, whichever writer claims; additions are summed', async () => {
    const s = await openStore(backend);
    const other = s.writer({ instance: 'b' });
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const key: [string, string, string, number] = ['rpm', 'agent-1', 'requests_per_minute', minute];
    const claims = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? other : s.store).counters.claim(key, 3, 20)));
    expect(claims.reduce((n: number, g) => n + (g ?? 0), 0)).toBe(20);
    expect(claims.every((g) => g !== null)).toBe(true);
    s.store.counters.add([
      ['tok', 'agent-1', 'tokens_per_hour', hour, 5],
      ['tok', 'agent-1', 'tokens_per_hour', hour, 7],
    ]);
    other.counters.add([['tok', 'agent-1', 'tokens_per_hour', hour, 1]]);
    await new Promise((r) => setTimeout(r, 200));
    const rows = (await s.store.counters.read(hour))!;
    expect(rows.sort()).toEqual([
      ['rpm', 'agent-1', 'requests_per_minute', minute, 20],
      ['tok', 'agent-1', 'tokens_per_hour', hour, 13],
    ]);
  });

  it('flows verify catches a changed row, a changed shared chunk, a body pointed at other chunks, a hole and a cut end', async () => {
    const s = await openStore(backend);
    const messages = Array.from({ length: 5 }, (_, i) => `shared message ${i} ${'x'.repeat(800)}`);
    for (let t = 1; t <= messages.length; t++) s.store.record(flowWith(turn(messages, t)));
    await s.store.flush();
    expect(await s.reader.verify()).toMatchObject({ ok: true, verified: 5 });

    await s.sql("UPDATE flows SET path = '/v1/forged' WHERE id = 2");
    expect(await s.reader.verify()).toMatchObject({ ok: false, flowId: 2, problem: 'flow 2: hash mismatch (row changed after it was written)' });
    await s.sql("UPDATE flows SET path = '/v1/messages' WHERE id = 2");
    expect(await s.reader.verify()).toMatchObject({ ok: true });

    // Which instance handled a flow is covered by its hash too.
    await s.sql("UPDATE flows SET instance = 'b' WHERE id = 4");
    expect(await s.reader.verify()).toMatchObject({ ok: false, flowId: 4 });
    await s.sql("UPDATE flows SET instance = 'a' WHERE id = 4");

    // A chunk every turn shares: caught once, named with the flow that stored it first.
    const shared = (await chunks(s)).find((c) => c.text.includes('shared message 0'))!;
    expect(shared.owner).toBe(1);
    const forged = Buffer.from(shared.text.replace('shared message 0', 'forged message 0'));
    await s.sql('UPDATE chunks SET data = ? WHERE id = ?', [shared.deflated ? zlib.deflateRawSync(forged) : forged, shared.id]);
    expect(await s.reader.verify()).toMatchObject({ ok: false, flowId: 1, problem: expect.stringContaining(`body chunk ${shared.id} (first stored by flow 1`) });
    const orig = Buffer.from(shared.text);
    await s.sql('UPDATE chunks SET data = ? WHERE id = ?', [shared.deflated ? zlib.deflateRawSync(orig) : orig, shared.id]);
    expect(await s.reader.verify()).toMatchObject({ ok: true });

    // Turn 3 made to read as turn 2: the chunks exist, but not the ones its hash covers.
    const turn2 = (await s.sql<{ chunks: Buffer }>("SELECT chunks FROM bodies WHERE flow_id = 2 AND direction = 'request'"))[0].chunks;
    const turn3 = (await s.sql<{ chunks: Buffer }>("SELECT chunks FROM bodies WHERE flow_id = 3 AND direction = 'request'"))[0].chunks;
    await s.sql("UPDATE bodies SET chunks = ? WHERE flow_id = 3 AND direction = 'request'", [turn2]);
    expect(await s.reader.verify()).toMatchObject({ ok: false, flowId: 3, problem: 'flow 3: hash mismatch (row changed after it was written)' });
    await s.sql("UPDATE bodies SET chunks = ? WHERE flow_id = 3 AND direction = 'request'", [turn3]);
    expect(decodeIds(turn3).length).toBeGreaterThan(1);

    // A flow deleted from the middle, then the newest: both seen.
    await s.sql('DELETE FROM flows WHERE id = 3');
    expect(await s.reader.verify()).toMatchObject({ ok: false, flowId: 4, problem: 'flow 4: prev_hash does not match flow 2 (the chain of instance "a")' });
    await s.sql('DELETE FROM flows WHERE id = 4');
    await s.sql('DELETE FROM flows WHERE id = 5');
    expect(await s.reader.verify()).toMatchObject({ ok: false, problem: 'instance "a": the newest flows of its chain are missing (its head is flow 5, the newest left is flow 2)' });
  });

  it('two instances writing to one store: two chains, each verified; every reader can tell and filter them apart', async () => {
    const s = await openStore(backend, { instance: 'pod-a' });
    const b = s.writer({ instance: 'pod-b' });
    for (let i = 0; i < 30; i++) {
      s.store.record(plain({ host: `a${i % 3}.test`, path: `/a/${i}` }));
      b.record(plain({ host: `b${i % 3}.test`, path: `/b/${i}` }));
      if (i % 7 === 0) await Promise.all([s.store.flush(), b.flush()]);
    }
    await Promise.all([s.store.flush(), b.flush()]);
    const all = await s.reader.list({}, { order: 'ASC', limit: 100 });
    expect(all).toHaveLength(60);
    expect(all.filter((r) => r.instance === 'pod-a').every((r) => r.path!.startsWith('/a/'))).toBe(true);
    expect(all.filter((r) => r.instance === 'pod-b').every((r) => r.path!.startsWith('/b/'))).toBe(true);
    expect(await ids(s.reader, { instance: 'pod-b' })).toEqual(all.filter((r) => r.instance === 'pod-b').map((r) => r.id));
    expect((await s.reader.instances()).map((i) => i.name)).toEqual(['pod-a', 'pod-b']);
    const v = await s.reader.verify();
    expect(v).toMatchObject({ ok: true, verified: 60 });
    expect(v.ok && v.chains.map((c) => [c.instance, c.verified])).toEqual([
      ['pod-a', 30],
      ['pod-b', 30],
    ]);
    // One instance's chain is broken: named as that chain.
    const bIds = all.filter((r) => r.instance === 'pod-b').map((r) => r.id);
    await s.sql('DELETE FROM flows WHERE id = ?', [bIds[10]]);
    expect(await s.reader.verify()).toMatchObject({ ok: false, flowId: bIds[11], problem: expect.stringContaining('(the chain of instance "pod-b")') });
  });

  it('full-text search: words of URLs, headers and text bodies, as given, never as query syntax', async () => {
    const s = await openStore(backend);
    s.store.record(flowWith(Buffer.from('{"q":"Crème brûlée recipe"}'), Buffer.from('{"a":"invoice 42"}'), { host: 'api.search.test', path: '/v1/find' }));
    s.store.record(flowWith(Buffer.from('{"q":"nothing here OR there"}'), Buffer.alloc(0), { path: '/other' }));
    s.store.record(flowWith(crypto.randomBytes(300), Buffer.alloc(0), { path: '/bin' }, 'application/octet-stream'));
    s.store.record(flowWith(Buffer.from('{"q":"foo & bar | !baz <-> qux:* a:b"}'), Buffer.alloc(0), { path: '/ops' }));
    await s.store.flush();
    const find = (text: string) => ids(s.reader, { text });
    expect(await find('creme BRULEE')).toEqual([1]); // case and diacritics folded
    expect(await find('invoice')).toEqual([1]); // the response body
    expect(await find('search')).toEqual([1]); // a part of the host name
    expect(await find('api.search.test:443/v1')).toEqual([1]); // punctuation: a phrase of its words
    expect(await find('api.search.test/v1')).toEqual([]); // ... in that order, next to each other
    expect(await find('trace-token-1')).toEqual([1, 2, 3, 4]); // a request header
    expect(await find('OR')).toEqual([2]); // only a word to look for
    expect(await find('recipe OR')).toEqual([]); // every word must occur
    expect(await find('"nothing')).toEqual([2]);
    expect(await find('!baz')).toEqual([4]);
    expect(await find('qux:*')).toEqual([4]);
    expect(await find('<-> | &')).toEqual([]); // no letter or digit: nothing to look for
    expect(await find('a:b')).toEqual([4]);
    expect(await find('foo bar')).toEqual([4]);
  });

  it('full-text search indexes a resent message once: in the flow that sent it first', async () => {
    const s = await openStore(backend);
    const messages = ['first needleA', 'second needleB', 'third needleC'].map((m) => `${m} ${'z'.repeat(1100)}`);
    for (let t = 1; t <= 3; t++) s.store.record(flowWith(turn(messages, t)));
    await s.store.flush();
    expect([await ids(s.reader, { text: 'needleA' }), await ids(s.reader, { text: 'needleB' }), await ids(s.reader, { text: 'needleC' })]).toEqual([[1], [2], [3]]);
  });

  it('filters, pages, overviews and stats give the same answers', async () => {
    const s = await openStore(backend);
    const t0 = Date.UTC(2025, 0, 15, 12, 0, 0);
    const hosts = ['api.anthropic.com', 'api.openai.com', 'github.com', 'x1.test'];
    for (let i = 0; i < 40; i++) {
      const decision = i % 10 === 0 ? 'deny' : i % 13 === 0 ? 'error' : 'allow';
      const f = plain({
        startedAt: t0 + i * 60_000,
        host: hosts[i % hosts.length],
        method: i % 3 ? 'GET' : 'POST',
        path: i % 5 ? `/v1/items/${i}` : `/v1/*lit[eral]/${i}`,
        status: decision === 'allow' ? (i % 7 ? 200 : 404) : decision === 'deny' ? 403 : 502,
        decision,
        ruleId: decision === 'allow' ? hosts[i % hosts.length] : undefined,
        agentUser: i % 4 ? 'agent-1' : 'agent-2',
        totalMs: i * 7.5,
        bytesUp: i,
        bytesDown: 2 * i,
      });
      if (i % 8 === 0) f.findings = [{ ruleId: i % 16 ? 'aws-access-key-id' : 'github-token', location: 'request header:authorization', offset: 0, action: 'block', preview: 'p' } as never];
      s.store.record(f);
    }
    await s.store.flush();
    const r = s.reader;
    expect(await ids(r, { host: '*.com' })).toHaveLength(30);
    expect(await ids(r, { host: 'API.OPENAI.COM' })).toEqual([2, 6, 10, 14, 18, 22, 26, 30, 34, 38]);
    expect(await ids(r, { host: 'x[0-9].test' })).toHaveLength(10); // a glob class, as SQLite's GLOB
    expect(await ids(r, { host: 'x[^0-9].test' })).toEqual([]);
    expect(await ids(r, { host: 'api.??????.com' })).toHaveLength(10);
    expect(await ids(r, { decision: 'deny' })).toEqual([1, 11, 21, 31]);
    expect(await ids(r, { method: 'post' })).toHaveLength(14);
    expect(await ids(r, { status: 404 })).toEqual([8, 15, 22, 29, 36]);
    expect(await ids(r, { statusClass: 5 })).toEqual([14, 27, 40]);
    expect(await ids(r, { since: t0 + 35 * 60_000, until: t0 + 38 * 60_000 })).toEqual([36, 37, 38]);
    expect(await ids(r, { rule: 'github.com' })).toHaveLength(7);
    expect(await ids(r, { agent: 'agent-2' })).toEqual([1, 5, 9, 13, 17, 21, 25, 29, 33, 37]);
    expect(await ids(r, { pathPrefix: '/v1/*lit[eral]/' })).toEqual([1, 6, 11, 16, 21, 26, 31, 36]);
    expect(await ids(r, { pathPrefix: '/v1/*' })).toEqual([1, 6, 11, 16, 21, 26, 31, 36]);
    expect(await ids(r, { hasFinding: true })).toEqual([1, 9, 17, 25, 33]);
    expect(await ids(r, { after: 35 })).toEqual([36, 37, 38, 39, 40]);
    // Pages, newest first, with cursors both ways.
    const p1 = await r.page({}, {}, 15);
    expect([p1.rows[0].id, p1.rows[14].id, p1.older, p1.newer]).toEqual([40, 26, 26, null]);
    const p2 = await r.page({}, { before: 26 }, 15);
    expect([p2.rows[0].id, p2.older, p2.newer]).toEqual([25, 11, 25]);
    const back = await r.page({}, { after: 25 }, 15);
    expect([back.rows[0].id, back.rows[14].id, back.newer, back.older]).toEqual([40, 26, null, 26]);
    expect(await r.maxId()).toBe(40);
    expect(await r.neighbours(20)).toEqual({ older: 19, newer: 21 });
    expect(await r.firstStart({ host: 'github.com' })).toBe(t0 + 2 * 60_000);
    // Overviews.
    const hostRows = await r.hosts({});
    expect(hostRows.map((h) => [h.host, h.n, h.allow, h.deny, h.error, h.up, h.down])).toEqual([
      ['api.anthropic.com', 10, 8, 2, 0, 180, 360],
      ['api.openai.com', 10, 9, 0, 1, 190, 380],
      ['github.com', 10, 7, 2, 1, 200, 400],
      ['x1.test', 10, 9, 0, 1, 210, 420],
    ]);
    const fo = await r.findingsOverview({}, { limit: 3 });
    expect(fo.rules.map((x) => [x.rule_id, x.n, x.flows, x.actions])).toEqual([
      ['github-token', 3, 3, 'block'],
      ['aws-access-key-id', 2, 2, 'block'],
    ]);
    expect(fo.list.map((x) => x.flow_id)).toEqual([33, 25, 17]);
    expect((await r.findingsOverview({}, { limit: 3, before: fo.older!, rule: 'github-token' })).list.map((x) => x.flow_id)).toEqual([1]);
    expect(await r.latency({})).toEqual([1, 1, 2, 3, 7, 20, 6, 0, 0, 0, 0, 0, 0]);
    const st = await r.stats({ host: 'api.anthropic.com' }, 600_000);
    expect(st).toMatchObject({
      total: 10,
      decisions: { allow: 8, deny: 2, refuse: 0, error: 0 },
      bytes: { up: 180, down: 360 },
      top_hosts: [{ host: 'api.anthropic.com', count: 10 }],
      top_rules: [{ rule: 'api.anthropic.com', count: 8 }],
      latency_ms: { count: 10, p50: 120, p90: 240, p99: 270 },
    });
    expect(st.per_minute.map((m) => [m.minute, m.counts.allow + m.counts.deny])).toEqual([
      ['2025-01-15T12:00:00.000Z', 3],
      ['2025-01-15T12:10:00.000Z', 2],
      ['2025-01-15T12:20:00.000Z', 3],
      ['2025-01-15T12:30:00.000Z', 2],
    ]);
  });

  it('retention deletes the oldest flows and keeps exactly the chunks a remaining flow needs; their text stays searchable', async () => {
    const s = await openStore(backend, { retention: { maxAgeMs: 60_000 } });
    const old = Array.from({ length: 4 }, (_, i) => `old session ${i} ${'o'.repeat(1100)}`);
    const live = Array.from({ length: 4 }, (_, i) => `live session needle${i} ${'l'.repeat(1100)}`);
    const at = (t: number) => (f: Flow) => Object.assign(f, { startedAt: t });
    for (let t = 1; t <= 4; t++) s.store.record(at(Date.now() - 3_600_000)(flowWith(turn(old, t))));
    for (let t = 1; t <= 2; t++) s.store.record(at(Date.now() - 3_600_000)(flowWith(turn(live, t)))); // this session goes on ...
    for (let t = 3; t <= 4; t++) s.store.record(flowWith(turn(live, t))); // ... into the kept window
    await s.store.flush();
    expect(await ids(s.reader, { text: 'needle0' })).toEqual([5]);
    expect((await s.store.enforceRetention()).deleted).toBe(6);
    expect((await requestOf(s, 7)).data!.equals(turn(live, 3))).toBe(true);
    expect((await requestOf(s, 8)).data!.equals(turn(live, 4))).toBe(true);
    const left = await chunks(s);
    expect(left.filter((c) => c.text.includes('old session'))).toEqual([]);
    const refs = new Set<number>();
    for (const b of await s.sql<{ chunks: Buffer }>('SELECT chunks FROM bodies')) for (const id of decodeIds(b.chunks)) refs.add(id);
    expect(left.map((c) => c.id).sort((a, b) => a - b)).toEqual([...refs].sort((a, b) => a - b));
    // The first live message was first sent by a deleted flow: its text is now found in a kept one.
    expect(await ids(s.reader, { text: 'needle0' })).toEqual([8]);
    expect(await s.reader.verify()).toMatchObject({ ok: true, verified: 2, startsAfterDeleted: 7 });
    // The chain goes on from its recorded head.
    s.store.record(plain());
    await s.store.flush();
    expect(await s.reader.verify()).toMatchObject({ ok: true, verified: 3, startsAfterDeleted: 7 });
  });
});

describe('both stores', () => {
  it('answer every reader query alike for the same flows', async () => {
    const [a, b] = [await openStore('sqlite'), await openStore('postgres')];
    const t0 = Date.UTC(2025, 1, 1);
    const messages = Array.from({ length: 6 }, (_, i) => `turn ${i} about invoices and refunds ${crypto.randomBytes(200).toString('hex')}`);
    const make = (i: number): Flow => {
      const f = i % 4 === 0 ? plain({ host: `svc-${i % 5}.example.com`, decision: i % 8 ? 'allow' : 'deny', status: i % 8 ? 200 : 403 }) : flowWith(turn(messages, 1 + (i % 6)));
      f.startedAt = t0 + i * 30_000;
      f.totalMs = (i * 37) % 400;
      f.id = `same-${i}`;
      if (i % 9 === 0) f.findings = [{ ruleId: 'anthropic-api-key', location: 'request body', offset: 3, action: 'redact', preview: 'sk-…' } as never];
      return f;
    };
    for (let i = 0; i < 60; i++) {
      a.store.record(make(i));
      b.store.record(make(i));
    }
    await Promise.all([a.store.flush(), b.store.flush()]);
    const ask = async (r: FlowReader) => ({
      list: await r.list({}, { order: 'DESC', limit: 100 }),
      text: await r.list({ text: 'refunds' }, { order: 'DESC', limit: 100 }),
      glob: await r.list({ host: 'svc-?.example.*' }, { order: 'ASC', limit: 100 }),
      page: await r.page({ decision: 'allow' }, { before: 40 }, 10),
      flow: await r.flow('same-7'),
      bodies: await r.bodies(7),
      hosts: await r.hosts({}),
      findings: await r.findingsOverview({}, { limit: 5 }),
      latency: await r.latency({}),
      stats: await r.stats({}, 300_000),
      first: await r.firstStart({}),
      instances: (await r.instances()).map((i) => [i.name, i.head_id]),
      verify: await r.verify(),
      // Filter expressions (the UI's q, flows --where): the same terms in both stores' SQL.
      expr: await r.list({ expr: 'host:svc-?.example.com and (decision:deny or status:2xx) and not method:POST' }, { order: 'ASC', limit: 100 }),
      exprText: await r.list({ expr: 'refunds -finding:*' }, { order: 'ASC', limit: 100 }),
      exprFinding: await r.list({ expr: 'finding:anthropic-api-key or path:/v1/mess' }, { order: 'ASC', limit: 100 }),
      facts: await (async () => {
        const out: unknown[] = [];
        await r.eachFact({ since: t0 }, (row) => out.push(row));
        return out;
      })(),
    });
    const [x, y] = [await ask(a.reader), await ask(b.reader)];
    expect(y).toEqual(x);
    expect(x.list).toHaveLength(60);
    expect(x.text.length).toBeGreaterThan(0);
    expect(x.expr.length).toBeGreaterThan(0);
    expect(x.expr.every((r) => r.host?.startsWith('svc-'))).toBe(true);
    expect(x.exprText.length).toBeGreaterThan(0);
    expect(x.exprFinding).toHaveLength(47); // the 45 LLM calls, and flows 0 and 36 (a finding)
    expect(x.facts).toHaveLength(60);
  });
});
