// LLM calls grouped into sessions by the writer (schema 7, proxy/store/sessions.cjs), through the
// real FlowStore and its writer thread: a conversation resent turn after turn (the way Claude
// Code resends it: cache_control markers moved, a text block turned into a string) is one session
// with its turns and what is new in each; another conversation, another agent, or a call that
// cannot be read is not folded into it; OpenAI Chat, Responses (previous_response_id) and Gemini.
import path from 'node:path';
import { createRequire } from 'node:module';
import { it as itProp } from '@fast-check/vitest';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { newFlowBodies } from '../../proxy/capture.ts';
import { type Flow, newFlow } from '../../proxy/flow.ts';
import { FlowStore } from '../../proxy/store/writer.ts';
import { tempDir } from '../helpers/airlock.ts';

const stores: FlowStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

function open(opts = {}): FlowStore {
  const s = new FlowStore(path.join(tempDir(), 'flows.sqlite'), opts);
  stores.push(s);
  return s;
}

function call(pathName: string, request: unknown, opts: { agent?: string; listener?: string; response?: string; responseType?: string; cap?: number } = {}): Flow {
  const flow = newFlow({ entry: 'route', listener: opts.listener ?? '127.0.0.1:9000', client: '127.0.0.1', agentUser: opts.agent, method: 'POST', scheme: 'https', host: 'api.test', port: 443, path: pathName });
  const body = Buffer.from(typeof request === 'string' ? request : JSON.stringify(request));
  flow.requestHeaders = { 'content-type': 'application/json' };
  flow.responseHeaders = { 'content-type': opts.responseType ?? 'application/json' };
  flow.status = 200;
  flow.bodies = newFlowBodies(opts.cap ?? 1024 * 1024, null); // a rule that injects no key: nothing to scrub
  flow.bodies.request.add(body);
  flow.bytesUp = body.length;
  const response = opts.response ?? JSON.stringify({ type: 'message', model: 'claude-x', content: [{ type: 'text', text: 'ok' }], stop_reason: 'end_turn', usage: { input_tokens: 10, output_tokens: 2 } });
  flow.bodies.response.add(Buffer.from(response));
  return flow;
}

interface TurnRow {
  flow_id: number;
  session_id: number;
  turn: number;
  messages: number;
  new_from: number;
  agent: string;
}

async function turns(s: FlowStore): Promise<TurnRow[]> {
  await s.flush();
  return s.db.prepare('SELECT t.flow_id, t.session_id, t.turn, t.messages, t.new_from, s.agent FROM session_turns t JOIN llm_sessions s ON s.id = t.session_id ORDER BY t.flow_id').all() as TurnRow[];
}

const reminder = { type: 'text', text: '<system-reminder>context</system-reminder>' };
const cc = { cache_control: { type: 'ephemeral' } };
/** Claude Code's calls of one run (the shapes it sends): markers move to the newest message each turn. */
function claudeCodeTurns(prompt: string) {
  const user = { role: 'user', content: [reminder, { type: 'text', text: prompt }] };
  const env = 'Primary working directory: /work';
  const use = { role: 'assistant', content: [{ type: 'text', text: 'Reading.' }, { type: 'tool_use', id: 'toolu_1', name: 'Read', input: { file_path: '/work/notes.txt' } }] };
  const result = (extra: object) => ({ role: 'user', content: [{ tool_use_id: 'toolu_1', type: 'tool_result', content: 'buy milk', ...extra }] });
  const answer = { role: 'assistant', content: [{ type: 'text', text: 'It says: buy milk.' }] };
  const base = { model: 'claude-opus-5-5', system: [{ type: 'text', text: 'You are Claude Code.', ...cc }], tools: [{ name: 'Read', input_schema: {} }], stream: true };
  return [
    { ...base, messages: [user, { role: 'system', content: [{ type: 'text', text: env, ...cc }] }] },
    { ...base, messages: [user, { role: 'system', content: env }, use, result(cc)] },
    { ...base, messages: [user, { role: 'system', content: env }, use, result({}), answer, { role: 'user', content: [{ type: 'text', text: 'Thanks', ...cc }] }] },
  ];
}

describe('sessions of LLM calls', () => {
  it('a conversation resent turn after turn is one session; each turn knows which messages are new', async () => {
    const s = open();
    for (const body of claudeCodeTurns('Read notes.txt')) s.record(call('/v1/messages', body, { agent: 'alice' }));
    const t = await turns(s);
    expect(t.map((r) => [r.turn, r.messages, r.new_from])).toEqual([
      [1, 2, 0],
      [2, 4, 2],
      [3, 6, 4],
    ]);
    expect(new Set(t.map((r) => r.session_id)).size).toBe(1);
    expect(t[0].agent).toBe('alice');
    expect(s.db.prepare('SELECT turns, first_flow, last_flow FROM llm_sessions').get()).toEqual({ turns: 3, first_flow: 1, last_flow: 3 });
  });

  it('another conversation, another agent, an unreadable call: sessions of their own', async () => {
    const s = open();
    const [one, two] = claudeCodeTurns('Read notes.txt');
    s.record(call('/v1/messages', one, { agent: 'alice' })); // 1: alice's run
    s.record(call('/v1/messages', claudeCodeTurns('Something else')[0], { agent: 'alice' })); // 2: another prompt
    s.record(call('/v1/messages', two, { agent: 'bob' })); // 3: bob: same bytes, another agent
    s.record(call('/v1/messages', one, {})); // 4: no user: counted for its listener
    s.record(call('/v1/messages', { ...two, pad: 'x'.repeat(4000) }, { agent: 'alice', cap: 1024 })); // 5: cut at the cap: unreadable
    s.record(call('/v1/messages', two, { agent: 'alice' })); // 6: alice's run goes on
    const t = await turns(s);
    expect(t.map((r) => [r.flow_id, r.turn, r.agent])).toEqual([
      [1, 1, 'alice'],
      [2, 1, 'alice'],
      [3, 1, 'bob'],
      [4, 1, 'listener:127.0.0.1:9000'],
      [6, 2, 'alice'],
    ]);
    expect(t.find((r) => r.flow_id === 6)!.session_id).toBe(t.find((r) => r.flow_id === 1)!.session_id);
    expect(new Set(t.map((r) => r.session_id)).size).toBe(4);
  });

  it('a second run that starts with the same prompt is a new session, not a turn of the first', async () => {
    const s = open();
    const run = claudeCodeTurns('Read notes.txt');
    for (const body of run) s.record(call('/v1/messages', body, { agent: 'alice' }));
    s.record(call('/v1/messages', run[0], { agent: 'alice' }));
    const t = await turns(s);
    expect(t[3].turn).toBe(1);
    expect(t[3].session_id).not.toBe(t[0].session_id);
  });

  it('OpenAI Chat, Gemini, and OpenAI Responses linked by previous_response_id', async () => {
    const s = open();
    const sys = { role: 'system', content: 'Be brief.' };
    s.record(call('/v1/chat/completions', { model: 'gpt-x', messages: [sys, { role: 'user', content: 'hi' }] }));
    s.record(call('/v1/chat/completions', { model: 'gpt-x', messages: [sys, { role: 'user', content: [{ type: 'text', text: 'hi' }] }, { role: 'assistant', content: 'hello' }, { role: 'user', content: 'more' }] }));
    const g1 = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };
    s.record(call('/v1beta/models/gemini-2.5-flash:generateContent', g1));
    s.record(call('/v1beta/models/gemini-2.5-flash:streamGenerateContent', { contents: [...g1.contents, { role: 'model', parts: [{ text: 'hello' }] }, { role: 'user', parts: [{ text: 'more' }] }] }));
    s.record(call('/v1/responses', { model: 'gpt-x', input: 'first' }, { response: JSON.stringify({ id: 'resp_abc123', object: 'response', status: 'completed', output: [] }) }));
    s.record(call('/v1/responses', { model: 'gpt-x', previous_response_id: 'resp_abc123', input: [{ role: 'user', content: 'second' }] }, { response: '{"id":"resp_def456"}' }));
    const t = await turns(s);
    expect(t.map((r) => [r.flow_id, r.turn, r.new_from])).toEqual([
      [1, 1, 0],
      [2, 2, 2],
      [3, 1, 0],
      [4, 2, 1],
      [5, 1, 0],
      [6, 2, 0],
    ]);
    const sessionOf = (id: number) => t.find((r) => r.flow_id === id)!.session_id;
    expect(sessionOf(2)).toBe(sessionOf(1));
    expect(sessionOf(4)).toBe(sessionOf(3));
    expect(sessionOf(6)).toBe(sessionOf(5));
    expect(new Set([sessionOf(1), sessionOf(3), sessionOf(5)]).size).toBe(3);
    expect(s.db.prepare('SELECT provider FROM llm_sessions ORDER BY id').pluck().all()).toEqual(['openai', 'gemini', 'openai']);
  });

  it('retention takes a session with its newest call', async () => {
    const s = open({ retention: { maxAgeMs: 60_000 }, retentionIntervalMs: 3_600_000 });
    const [one, two] = claudeCodeTurns('old');
    const old = call('/v1/messages', one, { agent: 'a' });
    old.startedAt -= 3_600_000;
    s.record(old);
    const older = call('/v1/messages', two, { agent: 'a' });
    older.startedAt -= 3_500_000;
    s.record(older);
    s.record(call('/v1/messages', claudeCodeTurns('new')[0], { agent: 'a' }));
    expect((await turns(s)).length).toBe(3);
    expect((await s.enforceRetention()).deleted).toBe(2);
    expect(await turns(s)).toMatchObject([{ flow_id: 3, turn: 1 }]);
    expect(s.db.prepare('SELECT count(*) FROM llm_sessions').pluck().get()).toBe(1);
  });
});

describe('messages read without parsing the call (the writer on every turn)', () => {
  // The writer hashes each message of every LLM call it files; the fast reader finds them with the
  // native addon and parses only messages it has not seen. It must give exactly what parsing the
  // whole call gives, whatever the spacing, the strings (brackets, quotes, escapes in them) and the
  // shape of each message, and again from its memo on the next turn.
  const { createFastReader, hashes, messagesOf } = createRequire(import.meta.url)('../../proxy/store/sessions.cjs');
  const tricky = fc.oneof(fc.string(), fc.constantFrom('],[', '"}', '\\', '\\"]', '{"a":[', '\u2028', 'é€😀'));
  const block = fc.oneof(
    fc.record({ type: fc.constant('text'), text: tricky }),
    fc.record({ type: fc.constant('text'), text: tricky, cache_control: fc.constant({ type: 'ephemeral' }) }),
    fc.record({ type: fc.constant('tool_use'), id: fc.string(), input: fc.dictionary(fc.string(), fc.jsonValue()) }),
  );
  const message = fc.oneof(
    fc.record({ role: fc.constantFrom('user', 'assistant'), content: fc.oneof(tricky, fc.array(block, { maxLength: 3 })) }),
    fc.jsonValue(),
  );
  const api = fc.constantFrom('anthropic', 'openai-chat', 'openai-responses', 'gemini');
  const spacing = fc.constantFrom(undefined, 1, 2, '\t');

  itProp.prop([api, fc.array(message, { minLength: 0, maxLength: 8 }), spacing, fc.option(fc.string())], { numRuns: 300 })(
    'the same message hashes as parsing the whole call, on a first and a repeated turn',
    (which, list, space, previous) => {
      const key = which === 'gemini' ? 'contents' : which === 'openai-responses' ? 'input' : 'messages';
      const call = { model: 'm', [key]: list, ...(previous === null ? {} : { previous_response_id: previous }) };
      const data = Buffer.from(JSON.stringify(call, null, space));
      const read = createFastReader();
      const messages = messagesOf(which, JSON.parse(data.toString()));
      for (let turn = 0; turn < 2; turn++) {
        const got = read(which, data);
        if (!messages) {
          expect(got).toBeNull();
          continue;
        }
        expect(got).toEqual({ count: messages.length, hashes: hashes(messages), previousId: which === 'openai-responses' && previous !== null ? previous : null });
      }
    },
  );

  it('a call whose list is not an array, or a message that is not JSON, is left to the whole parse', () => {
    const read = createFastReader();
    expect(read('openai-responses', Buffer.from('{"input":"hello"}'))).toBeUndefined();
    expect(read('anthropic', Buffer.from('{"messages":[{"role":"user",}]}'))).toBeUndefined();
    expect(read('anthropic', Buffer.from('[1,2]'))).toBeUndefined();
  });
});
