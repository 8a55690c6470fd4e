// The LLM fields parser on realistic Anthropic Messages and OpenAI Chat Completions bodies.
import { describe, expect, it } from 'vitest';
import { llmInfo, llmProvider } from '../../proxy/llm.ts';
import { ANTHROPIC_SSE } from '../helpers/upstream.ts';

const anthropicRequest = JSON.stringify({
  model: 'claude-sonnet-4-5',
  max_tokens: 1024,
  tools: [
    { name: 'get_weather', description: 'Get the weather', input_schema: { type: 'object', properties: { name: { type: 'string' } } } },
    { name: 'get_time', input_schema: { type: 'object' } },
  ],
  messages: [{ role: 'user', content: 'Weather in Paris?' }],
  stream: true,
});

const anthropicJson = JSON.stringify({
  id: 'msg_01',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5-20250929',
  content: [
    { type: 'text', text: 'Checking.' },
    { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { location: 'Paris' } },
  ],
  stop_reason: 'tool_use',
  stop_sequence: null,
  usage: { input_tokens: 472, output_tokens: 89, cache_read_input_tokens: 0 },
});

const openaiRequest = JSON.stringify({
  model: 'gpt-4o',
  messages: [{ role: 'user', content: 'hi' }],
  tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }],
  stream: true,
  stream_options: { include_usage: true },
});

const openaiJson = JSON.stringify({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  model: 'gpt-4o-2024-08-06',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }] },
      finish_reason: 'tool_calls',
    },
  ],
  usage: { prompt_tokens: 82, completion_tokens: 17, total_tokens: 99 },
});

const chunk = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const openaiSse = [
  chunk({ id: 'c', object: 'chat.completion.chunk', model: 'gpt-4o-2024-08-06', choices: [{ index: 0, delta: { role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '' } }] }, finish_reason: null }], usage: null }),
  chunk({ id: 'c', object: 'chat.completion.chunk', model: 'gpt-4o-2024-08-06', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"q":"x"}' } }] }, finish_reason: null }], usage: null }),
  chunk({ id: 'c', object: 'chat.completion.chunk', model: 'gpt-4o-2024-08-06', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }], usage: null }),
  chunk({ id: 'c', object: 'chat.completion.chunk', model: 'gpt-4o-2024-08-06', choices: [], usage: { prompt_tokens: 82, completion_tokens: 17, total_tokens: 99 } }),
  'data: [DONE]\n\n',
].join('');

describe('llmProvider', () => {
  it('recognises the APIs by path on any host, with prefixes and queries', () => {
    expect(llmProvider('/v1/messages')).toBe('anthropic');
    expect(llmProvider('/v1/messages?beta=true')).toBe('anthropic');
    expect(llmProvider('/anthropic/v1/messages')).toBe('anthropic');
    expect(llmProvider('/v1/chat/completions')).toBe('openai');
    expect(llmProvider('/openai/deployments/x/chat/completions')).toBe('openai');
    for (const p of ['/v1/messages/count_tokens', '/v1/messages/batches', '/v1/completions', '/', null, undefined]) expect(llmProvider(p), String(p)).toBeNull();
  });
});

describe('llmInfo: Anthropic Messages', () => {
  it('JSON response', () => {
    expect(llmInfo('api.anthropic.com', '/v1/messages', anthropicRequest, 'application/json', anthropicJson)).toEqual({
      provider: 'anthropic',
      model: 'claude-sonnet-4-5-20250929',
      inputTokens: 472,
      outputTokens: 89,
      stopReason: 'tool_use',
      tools: ['get_weather', 'get_time'],
    });
  });

  it('streamed response', () => {
    expect(llmInfo('127.0.0.1', '/v1/messages', anthropicRequest, 'text/event-stream', ANTHROPIC_SSE.join(''))).toEqual({
      provider: 'anthropic',
      model: 'claude-sonnet-4-5-20250929',
      inputTokens: 472,
      outputTokens: 89,
      stopReason: 'tool_use',
      tools: ['get_weather', 'get_time'],
    });
  });

  it('streamed response with CRLF line ends and no request body', () => {
    const crlf = ANTHROPIC_SSE.join('').replace(/\n/g, '\r\n');
    expect(llmInfo(null, '/v1/messages', null, 'text/event-stream; charset=utf-8', crlf)).toMatchObject({ inputTokens: 472, outputTokens: 89, stopReason: 'tool_use', tools: ['get_weather'] });
  });

  it('truncated stream: what arrived before the cut', () => {
    const all = ANTHROPIC_SSE.join('');
    const cut = all.slice(0, all.indexOf('"name":"get_weather"') + 10); // inside the tool_use event
    expect(llmInfo(null, '/v1/messages', null, 'text/event-stream', cut)).toEqual({
      provider: 'anthropic',
      model: 'claude-sonnet-4-5-20250929',
      inputTokens: 472,
      outputTokens: 2,
      stopReason: null,
      tools: [],
    });
    const toolDone = all.slice(0, all.indexOf('event: message_delta') + 30);
    expect(llmInfo(null, '/v1/messages', null, 'text/event-stream', toolDone)).toMatchObject({ tools: ['get_weather'], stopReason: null });
  });

  it('truncated JSON request and response: the leading fields', () => {
    expect(llmInfo(null, '/v1/messages', anthropicRequest.slice(0, 60), 'application/json', anthropicJson.slice(0, anthropicJson.length - 40))).toMatchObject({
      model: 'claude-sonnet-4-5-20250929',
      stopReason: 'tool_use',
      inputTokens: 472,
      outputTokens: null,
    });
    expect(llmInfo(null, '/v1/messages', anthropicRequest.slice(0, 60), null, null)).toMatchObject({ model: 'claude-sonnet-4-5', tools: [] });
  });

  it('an error response still names the requested model', () => {
    const err = JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    expect(llmInfo(null, '/v1/messages', anthropicRequest, 'application/json', err)).toMatchObject({ model: 'claude-sonnet-4-5', inputTokens: null, stopReason: null });
  });
});

describe('llmInfo: OpenAI Chat Completions', () => {
  it('JSON response', () => {
    expect(llmInfo('api.openai.com', '/v1/chat/completions', openaiRequest, 'application/json', openaiJson)).toEqual({
      provider: 'openai',
      model: 'gpt-4o-2024-08-06',
      inputTokens: 82,
      outputTokens: 17,
      stopReason: 'tool_calls',
      tools: ['lookup'],
    });
  });

  it('streamed chunks with usage in the last one and [DONE]', () => {
    expect(llmInfo('api.openai.com', '/v1/chat/completions', openaiRequest, 'text/event-stream', openaiSse)).toEqual({
      provider: 'openai',
      model: 'gpt-4o-2024-08-06',
      inputTokens: 82,
      outputTokens: 17,
      stopReason: 'tool_calls',
      tools: ['lookup'],
    });
  });

  it('truncated stream', () => {
    const cut = openaiSse.slice(0, openaiSse.indexOf('"finish_reason":"tool_calls"') + 5);
    expect(llmInfo(null, '/v1/chat/completions', null, 'text/event-stream', cut)).toEqual({
      provider: 'openai',
      model: 'gpt-4o-2024-08-06',
      inputTokens: null,
      outputTokens: null,
      stopReason: null,
      tools: ['lookup'],
    });
  });
});

describe('llmInfo: anything else', () => {
  it('is null for other paths and for bodies with nothing to read; never throws', () => {
    expect(llmInfo('api.anthropic.com', '/v1/models', anthropicRequest, 'application/json', anthropicJson)).toBeNull();
    expect(llmInfo(null, '/v1/messages', 'not json', 'text/plain', 'nope')).toBeNull();
    const junk = ['', '{', '[]', 'null', '"x"', 'data: {\n\n', 'data: [1,2]\n\n', 'event: message_start\ndata: {"type":"message_start","message":null}\n\n', '{"model":42,"usage":{"input_tokens":-1,"output_tokens":1.5}}', '\u0000\uffff'];
    for (const a of junk) for (const b of junk) {
      expect(() => llmInfo(null, '/v1/messages', a, 'text/event-stream', b)).not.toThrow();
      expect(() => llmInfo(null, '/v1/chat/completions', a, 'application/json', b)).not.toThrow();
    }
    expect(llmInfo(null, '/v1/messages', '{"model":42,"usage":{"input_tokens":-1}}', 'application/json', '{"usage":{"input_tokens":-1,"output_tokens":1.5}}')).toBeNull();
  });
});

describe('a request that carries a whole conversation', () => {
  const big = (messages: unknown[], extra: Record<string, unknown> = {}) =>
    Buffer.from(JSON.stringify({ model: 'claude-opus-4-1', max_tokens: 100, ...extra, tools: [{ name: 'Read', input_schema: { properties: { name: { type: 'string' } } } }, { name: 'Bash' }], messages }));
  const decoys = Array.from({ length: 200 }, (_, i) => ({ role: 'user', content: `${i}: {"model":"forged","tools":[{"name":"Forged"}]} ${'x'.repeat(100)}` }));

  it('reads only its model and tools (native scanner), past any look-alike in the messages', () => {
    const body = big(decoys);
    expect(body.length).toBeGreaterThan(16 * 1024);
    expect(llmInfo(null, '/v1/messages', body, null, null)).toEqual({ provider: 'anthropic', model: 'claude-opus-4-1', inputTokens: null, outputTokens: null, stopReason: null, tools: ['Read', 'Bash'] });
  });

  it('finds the same as parsing it whole, wherever the keys stand', () => {
    for (const extra of [{}, { system: 'tools: [not these]', metadata: { model: 'nested, not the model' } }]) {
      const body = big(decoys, extra);
      expect(llmInfo(null, '/v1/messages', body, null, null)).toEqual(llmInfo(null, '/v1/messages', body.toString(), null, null));
    }
    const toolsLast = Buffer.from(`{"messages":${JSON.stringify(decoys)},"model":"m-last","tools":[{"name":"Late"}]}`);
    expect(llmInfo(null, '/v1/messages', toolsLast, null, null)).toMatchObject({ model: 'm-last', tools: ['Late'] });
  });
});
