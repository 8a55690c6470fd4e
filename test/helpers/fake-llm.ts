// Fakes of three LLM APIs on loopback, over TLS with a test CA, enough for real clients to run a
// tool-use loop: Anthropic Messages (JSON and streamed; Claude Code runs against it), OpenAI Chat
// Completions (streamed) and Google Gemini (generateContent, streamGenerateContent with alt=sse).
// The model's side is scripted: asked about a file while a Read tool is offered, it calls
// Read on `notesPath`; given a tool result, it answers with what the result said.
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { UpstreamPki } from './certs.ts';

export interface FakeLlm {
  port: number;
  /** Every request: method, path, and whether it carried the real key. */
  seen: { method: string; path: string; apiKey: string | undefined }[];
  close(): Promise<void>;
}

export const USAGE = { input: 1200, output: 80 };

type Json = Record<string, unknown>;

function lastUser(messages: Json[]): Json | undefined {
  return [...messages].reverse().find((m) => m.role === 'user');
}

/** The text of a tool result in the last user message, if it carries one. */
function toolResultText(m: Json | undefined): string | null {
  if (!m || !Array.isArray(m.content)) return null;
  for (const b of m.content as Json[]) {
    if (b.type !== 'tool_result') continue;
    if (typeof b.content === 'string') return b.content;
    if (Array.isArray(b.content)) return (b.content as Json[]).map((c) => String(c.text ?? '')).join('');
  }
  return null;
}

function anthropic(body: Json, notesPath: string): { content: Json[]; stop: string } {
  const messages = (body.messages as Json[]) ?? [];
  const result = toolResultText(lastUser(messages));
  if (result !== null) return { content: [{ type: 'text', text: `The notes say: ${result.replace(/^\s*\d+\t/gm, '').trim()}` }], stop: 'end_turn' };
  const offersRead = ((body.tools as Json[]) ?? []).some((t) => t.name === 'Read');
  if (offersRead && JSON.stringify(messages).includes('notes.txt')) {
    return {
      content: [
        { type: 'text', text: 'I will read the file.' },
        { type: 'tool_use', id: 'toolu_01A', name: 'Read', input: { file_path: notesPath } },
      ],
      stop: 'tool_use',
    };
  }
  return { content: [{ type: 'text', text: 'Hello.' }], stop: 'end_turn' };
}

function sse(res: http.ServerResponse, events: [string | null, unknown][]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const [event, data] of events) res.write(`${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  res.end();
}

function anthropicStream(res: http.ServerResponse, model: string, content: Json[], stop: string): void {
  const events: [string, unknown][] = [
    ['message_start', { type: 'message_start', message: { id: 'msg_fake', type: 'message', role: 'assistant', model, content: [], stop_reason: null, usage: { input_tokens: USAGE.input, output_tokens: 1 } } }],
  ];
  content.forEach((b, index) => {
    if (b.type === 'text') {
      events.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }]);
      const text = String(b.text);
      // In pieces, as the API streams it.
      for (const piece of [text.slice(0, 5), text.slice(5)]) if (piece) events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } }]);
    } else {
      events.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } }]);
      const json = JSON.stringify(b.input);
      events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: json.slice(0, 8) } }]);
      events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: json.slice(8) } }]);
    }
    events.push(['content_block_stop', { type: 'content_block_stop', index }]);
  });
  events.push(['message_delta', { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: USAGE.output } }]);
  events.push(['message_stop', { type: 'message_stop' }]);
  sse(res, events);
}

function openai(res: http.ServerResponse, body: Json): void {
  const messages = (body.messages as Json[]) ?? [];
  const model = String(body.model ?? 'gpt-fake');
  const chunk = (delta: Json, finish: string | null, usage: Json | null = null) => ({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', model, choices: finish === 'usage' ? [] : [{ index: 0, delta, finish_reason: finish }], usage });
  const answered = messages.some((m) => m.role === 'tool');
  const events: [null, unknown][] = answered
    ? [
        [null, chunk({ role: 'assistant', content: 'It is ' }, null)],
        [null, chunk({ content: 'sunny in Paris.' }, 'stop')],
      ]
    : [
        [null, chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_w1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }, null)],
        [null, chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }, null)],
        [null, chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }, 'tool_calls')],
      ];
  events.push([null, chunk({}, 'usage', { prompt_tokens: 300, completion_tokens: 20, total_tokens: 320 })]);
  events.push([null, '[DONE]']);
  sse(res, events);
}

function gemini(res: http.ServerResponse, body: Json, model: string, stream: boolean): void {
  const contents = (body.contents as Json[]) ?? [];
  const answered = contents.some((c) => Array.isArray(c.parts) && (c.parts as Json[]).some((p) => p.functionResponse));
  const usage = { promptTokenCount: 210, candidatesTokenCount: 30, totalTokenCount: 240 };
  const chunks = answered
    ? [{ candidates: [{ content: { role: 'model', parts: [{ text: 'Paris is ' }] } }] }, { candidates: [{ content: { role: 'model', parts: [{ text: 'sunny today.' }] }, finishReason: 'STOP' }], usageMetadata: usage }]
    : [{ candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] }, finishReason: 'STOP' }], usageMetadata: usage }];
  const withModel = chunks.map((c) => ({ ...c, modelVersion: `${model}-001` }));
  if (stream) return sse(res, withModel.map((c) => [null, c]));
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(withModel[withModel.length - 1]));
}

/** The fake on `ip`:`port` (443 when the client cannot be told another port), for every name of `pki`. */
export async function startFakeLlm(pki: UpstreamPki, ip: string, notesPath: string, port = 0): Promise<FakeLlm> {
  const seen: FakeLlm['seen'] = [];
  const server = https.createServer({ cert: pki.cert, key: pki.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'https://x');
      seen.push({ method: req.method!, path: url.pathname, apiKey: (req.headers['x-api-key'] ?? req.headers['x-goog-api-key'] ?? req.headers.authorization) as string | undefined });
      let body: Json = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Json;
      } catch {
        // not JSON: answered like any other call
      }
      if (req.method === 'POST' && url.pathname === '/v1/messages') {
        const model = String(body.model ?? 'claude-fake');
        const { content, stop } = anthropic(body, notesPath);
        if (body.stream) return anthropicStream(res, model, content, stop);
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ id: 'msg_fake', type: 'message', role: 'assistant', model, content, stop_reason: stop, usage: { input_tokens: USAGE.input, output_tokens: USAGE.output } }));
      }
      if (url.pathname === '/v1/messages/count_tokens') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{"input_tokens":12}');
      }
      if (req.method === 'POST' && url.pathname === '/v1/chat/completions') return openai(res, body);
      const g = /\/models\/([^/:]+):(stream)?generateContent$/i.exec(url.pathname);
      if (req.method === 'POST' && g) return gemini(res, body, g[1], g[2] !== undefined);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.method === 'HEAD' ? undefined : '{}');
    });
  });
  await new Promise<void>((r) => server.listen(port, ip, r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
