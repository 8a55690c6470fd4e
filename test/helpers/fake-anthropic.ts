// A fake of Anthropic's API on loopback, enough for real clients (Claude Code, the SDK) to run a
// session: streamed and plain Messages answers, token counting, and 200 {} for the start-up
// checks, settings and telemetry they also call. TLS with a test CA for the names given.
import type http from 'node:http';
import https from 'node:https';
import type { UpstreamPki } from './certs.ts';

export interface FakeApiRequest {
  method: string;
  host: string;
  path: string;
  apiKey: string | undefined;
}

export interface FakeAnthropic {
  seen: FakeApiRequest[];
  close(): Promise<void>;
}

export const FAKE_REPLY = 'Hello from the fake Messages API.';

function message(model: string): Record<string, unknown> {
  return {
    id: 'msg_fake0001',
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text: FAKE_REPLY }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 12, output_tokens: 8 },
  };
}

function sse(res: http.ServerResponse, model: string): void {
  const m = message(model);
  const events: [string, unknown][] = [
    ['message_start', { type: 'message_start', message: { ...m, content: [], stop_reason: null, usage: { input_tokens: 12, output_tokens: 1 } } }],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: FAKE_REPLY } }],
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 8 } }],
    ['message_stop', { type: 'message_stop' }],
  ];
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const [event, data] of events) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  res.end();
}

export async function startFakeAnthropic(pki: UpstreamPki, host: string): Promise<FakeAnthropic> {
  const seen: FakeApiRequest[] = [];
  const server = https.createServer({ cert: pki.cert, key: pki.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'https://x');
      seen.push({ method: req.method!, host: req.headers.host ?? '', path: url.pathname, apiKey: req.headers['x-api-key'] as string | undefined });
      let body: { model?: string; stream?: boolean } = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        // not JSON: answered like any other call
      }
      const model = body.model ?? 'claude-fake';
      if (req.method === 'POST' && url.pathname === '/v1/messages') {
        if (body.stream) return sse(res, model);
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify(message(model)));
      }
      if (url.pathname === '/v1/messages/count_tokens') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{"input_tokens":12}');
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.method === 'HEAD' ? undefined : '{}');
    });
  });
  await new Promise<void>((r) => server.listen(443, host, r));
  return {
    seen,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
