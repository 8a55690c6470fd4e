// The LLM fields parser on realistic Anthropic Messages and OpenAI Chat Completions bodies.
import { describe, expect, it } from 'vitest';
import { llmApi, llmInfo, llmProvider } from '../../proxy/llm.ts';
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
    expect(llmProvider('/v1/responses')).toBe('openai');
    expect(llmProvider('/v1beta/models/gemini-2.5-flash:generateContent')).toBe('gemini');
    expect(llmProvider('/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:streamGenerateContent')).toBe('gemini');
    expect(llmApi('/v1/responses')).toBe('openai-responses');
    expect(llmApi('/v1/chat/completions')).toBe('openai-chat');
    for (const p of ['/v1/messages/count_tokens', '/v1/messages/batches', '/v1/completions', '/v1/responses/resp_1', '/v1beta/models/x:countTokens', '/', null, undefined]) {
      expect(llmProvider(p), String(p)).toBeNull();
    }
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
      called: ['get_weather'],
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
      called: ['get_weather'],
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
      called: [],
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
      called: ['lookup'],
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
      called: ['lookup'],
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
      called: ['lookup'],
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
    expect(llmInfo(null, '/v1/messages', body, null, null)).toEqual({ provider: 'anthropic', model: 'claude-opus-4-1', inputTokens: null, outputTokens: null, stopReason: null, tools: ['Read', 'Bash'], called: [] });
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

describe('llmInfo: OpenAI Responses', () => {
  const req = JSON.stringify({ model: 'gpt-5', instructions: 'Be brief.', input: 'Weather?', tools: [{ type: 'function', name: 'get_weather', parameters: {} }, { type: 'web_search' }] });
  const done = {
    id: 'resp_1',
    object: 'response',
    model: 'gpt-5-2025-08-07',
    status: 'completed',
    output: [{ type: 'function_call', call_id: 'c1', name: 'get_weather', arguments: '{"city":"Paris"}' }],
    usage: { input_tokens: 120, output_tokens: 30, total_tokens: 150 },
  };
  it('JSON and streamed events', () => {
    const expected = { provider: 'openai', model: 'gpt-5-2025-08-07', inputTokens: 120, outputTokens: 30, stopReason: 'completed', tools: ['get_weather', 'web_search'], called: ['get_weather'] };
    expect(llmInfo(null, '/v1/responses', req, 'application/json', JSON.stringify(done))).toEqual(expected);
    const sse = [
      { type: 'response.created', response: { ...done, status: 'in_progress', output: [], usage: null } },
      { type: 'response.output_item.done', item: done.output[0] },
      { type: 'response.completed', response: done },
    ].map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join('');
    expect(llmInfo(null, '/v1/responses', req, 'text/event-stream', sse)).toEqual(expected);
  });
});

describe('llmInfo: Gemini', () => {
  const req = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'Weather?' }] }], tools: [{ functionDeclarations: [{ name: 'get_weather', parameters: {} }] }] });
  const chunk = (o: object) => ({ ...o, modelVersion: 'gemini-2.5-flash-001' });
  const parts = [
    chunk({ candidates: [{ content: { role: 'model', parts: [{ text: 'Let me ' }] } }], usageMetadata: { promptTokenCount: 40, candidatesTokenCount: 2 } }),
    chunk({ candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 40, candidatesTokenCount: 9, thoughtsTokenCount: 3 } }),
  ];
  const expected = { provider: 'gemini', model: 'gemini-2.5-flash-001', inputTokens: 40, outputTokens: 12, stopReason: 'STOP', tools: ['get_weather'], called: ['get_weather'] };
  it('the model from the path when the response names none; JSON, SSE (alt=sse) and a streamed JSON array', () => {
    expect(llmInfo(null, '/v1beta/models/gemini-2.5-flash:generateContent', req, null, null)).toMatchObject({ model: 'gemini-2.5-flash', tools: ['get_weather'] });
    expect(llmInfo(null, '/v1beta/models/gemini-2.5-flash:generateContent', req, 'application/json', JSON.stringify(parts[1]))).toEqual(expected);
    const sse = parts.map((p) => `data: ${JSON.stringify(p)}\r\n\r\n`).join('');
    expect(llmInfo(null, '/v1beta/models/gemini-2.5-flash:streamGenerateContent', req, 'text/event-stream', sse)).toEqual(expected);
    const array = `[${parts.map((p) => JSON.stringify(p)).join(',\n')}]`;
    expect(llmInfo(null, '/v1beta/models/gemini-2.5-flash:streamGenerateContent', req, 'application/json', array)).toEqual(expected);
    // Cut at the cap inside the second element: the first one's counts.
    expect(llmInfo(null, '/v1beta/models/gemini-2.5-flash:streamGenerateContent', req, 'application/json', array.slice(0, array.length - 30))).toMatchObject({ inputTokens: 40, outputTokens: 2 });
  });
});
