// LLM calls read as conversations (web-ui/conversation.ts) for the four APIs: requests with
// system prompts, tool calls and results; answers from JSON and from streams (whole and cut);
// and what cannot be read is null, never an exception.
import { describe, expect, it } from 'vitest';
import { conversationOf } from '../../web-ui/conversation.ts';
import { ANTHROPIC_SSE } from '../helpers/upstream.ts';

const buf = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
const res = (data: string, contentType = 'application/json', truncated = false) => ({ contentType, data: Buffer.from(data), truncated });
const sse = (events: object[]) => events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('');

describe('conversations', () => {
  it('Anthropic: system blocks, tool use and its result (named after the call), the answer assembled from SSE', () => {
    const c = conversationOf(
      'anthropic',
      buf({
        model: 'claude-x',
        system: [{ type: 'text', text: 'You are an agent.', cache_control: { type: 'ephemeral' } }],
        tools: [{ name: 'get_weather', description: 'Weather' }],
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'tu1', name: 'get_weather', input: { location: 'Paris' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu1', content: [{ type: 'text', text: 'sunny' }], is_error: false }] },
        ],
      }),
      res(ANTHROPIC_SSE.join(''), 'text/event-stream'),
      200,
    )!;
    expect(c.system).toBe('You are an agent.');
    expect(c.tools).toEqual([{ name: 'get_weather', description: 'Weather' }]);
    expect(c.messages.map((m) => [m.role, m.parts.map((p) => p.kind)])).toEqual([
      ['user', ['text']],
      ['assistant', ['tool_call']],
      ['user', ['tool_result']],
    ]);
    expect(c.messages[2].parts[0]).toEqual({ kind: 'tool_result', id: 'tu1', name: 'get_weather', text: 'sunny', error: false });
    expect(c.answer!.parts).toEqual([
      { kind: 'text', text: 'Let me check the weather.' },
      { kind: 'tool_call', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', input: '{\n  "location": "Paris"\n}' },
    ]);
    expect(c.answerNote).toBeNull();
  });

  it('Anthropic: a stream cut at the cap gives what arrived, and says so; an error status says so', () => {
    const all = ANTHROPIC_SSE.join('');
    const cut = conversationOf('anthropic', buf({ messages: [{ role: 'user', content: 'hi' }] }), res(all.slice(0, all.indexOf('event: content_block_stop')), 'text/event-stream', true), 200)!;
    expect(cut.answer!.parts).toEqual([{ kind: 'text', text: 'Let me check the weather.' }]);
    expect(cut.answerNote).toContain('cut at the store cap');
    const failed = conversationOf('anthropic', buf({ messages: [{ role: 'user', content: 'hi' }] }), res('{"type":"error","error":{"type":"overloaded_error"}}'), 529)!;
    expect(failed.answer).toBeNull();
    expect(failed.answerNote).toBe('the API answered 529: see the response body');
  });

  it('OpenAI Chat: the first system message is the system prompt; tool calls and results; streamed deltas joined', () => {
    const chunk = (delta: object, finish: string | null = null) => ({ choices: [{ index: 0, delta, finish_reason: finish }] });
    const c = conversationOf(
      'openai-chat',
      buf({ model: 'gpt', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: 'data:...' } }] }, { role: 'tool', tool_call_id: 'c1', content: '42' }] }),
      res(sse([chunk({ content: 'It is ' }), chunk({ content: '42.' }), chunk({ tool_calls: [{ index: 0, id: 'c2', function: { name: 'save', arguments: '{"v":' } }] }), chunk({ tool_calls: [{ index: 0, function: { arguments: '42}' } }] }, 'tool_calls')]) + 'data: [DONE]\n\n', 'text/event-stream'),
      200,
    )!;
    expect(c.system).toBe('Be brief.');
    expect(c.messages[0].parts).toEqual([{ kind: 'text', text: 'hi' }, { kind: 'media', what: 'image_url' }]);
    expect(c.messages[1].parts).toEqual([{ kind: 'tool_result', id: 'c1', name: null, text: '42', error: false }]);
    expect(c.answer!.parts).toEqual([
      { kind: 'text', text: 'It is 42.' },
      { kind: 'tool_call', id: 'c2', name: 'save', input: '{\n  "v": 42\n}' },
    ]);
  });

  it('OpenAI Responses: instructions, input items, function calls and outputs; the answer from response.completed, or from the items before a cut', () => {
    const request = buf({
      model: 'gpt-5',
      instructions: 'Be brief.',
      input: [
        { role: 'user', content: [{ type: 'input_text', text: 'Weather?' }] },
        { type: 'function_call', call_id: 'f1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call_output', call_id: 'f1', output: '{"sky":"sunny"}' },
      ],
    });
    const answer = { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Sunny.' }] };
    const done = conversationOf('openai-responses', request, res(JSON.stringify({ id: 'resp_1', output: [answer] })), 200)!;
    expect(done.system).toBe('Be brief.');
    expect(done.messages.map((m) => m.parts[0].kind)).toEqual(['text', 'tool_call', 'tool_result']);
    expect(done.messages[2].parts[0]).toMatchObject({ name: 'get_weather', text: '{"sky":"sunny"}' });
    expect(done.answer!.parts).toEqual([{ kind: 'text', text: 'Sunny.' }]);
    const streamed = sse([
      { type: 'response.created', response: { id: 'resp_1', output: [] } },
      { type: 'response.output_text.delta', delta: 'Sun' },
      { type: 'response.output_text.delta', delta: 'ny.' },
    ]);
    expect(conversationOf('openai-responses', request, res(streamed, 'text/event-stream', true), 200)!.answer!.parts).toEqual([{ kind: 'text', text: 'Sunny.' }]);
    expect(conversationOf('openai-responses', buf({ input: 'just text' }), null, null)!.messages).toEqual([{ role: 'user', parts: [{ kind: 'text', text: 'just text' }] }]);
  });

  it('Gemini: systemInstruction, function calls and responses; a streamed JSON array joined into one answer', () => {
    const c = conversationOf(
      'gemini',
      buf({
        systemInstruction: { parts: [{ text: 'Be brief.' }] },
        tools: [{ functionDeclarations: [{ name: 'get_weather' }] }],
        contents: [
          { role: 'user', parts: [{ text: 'Weather?' }] },
          { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] },
          { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { sky: 'sunny' } } }] },
        ],
      }),
      res(JSON.stringify([{ candidates: [{ content: { parts: [{ text: 'Paris is ' }] } }] }, { candidates: [{ content: { parts: [{ text: 'sunny.' }] } }] }])),
      200,
    )!;
    expect(c.system).toBe('Be brief.');
    expect(c.tools.map((t) => t.name)).toEqual(['get_weather']);
    expect(c.messages[1].parts[0]).toMatchObject({ kind: 'tool_call', name: 'get_weather' });
    expect(c.messages[2].parts[0]).toMatchObject({ kind: 'tool_result', name: 'get_weather' });
    expect(c.answer).toEqual({ role: 'model', parts: [{ kind: 'text', text: 'Paris is sunny.' }] });
  });

  it('what cannot be read is null, never an exception', () => {
    for (const api of ['anthropic', 'openai-chat', 'openai-responses', 'gemini'] as const) {
      expect(conversationOf(api, buf('{"messages": [cut'), null, 200)).toBeNull();
      expect(conversationOf(api, null, null, 200)).toBeNull();
      expect(conversationOf(api, buf('[]'), null, 200)).toBeNull();
      for (const junk of ['{', 'null', '[1,2]', 'data: {\n\n', '{"choices":5,"content":7,"output":"x","candidates":{}}']) {
        expect(() => conversationOf(api, buf({ messages: [{ role: 'user', content: 7 }, 5, null], input: [3, null], contents: [{ parts: 4 }] }), res(junk), 200)).not.toThrow();
      }
    }
  });
});
