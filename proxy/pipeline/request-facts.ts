// Small facts about an agent's request, read the same way by every stage, and its body as a stream.
import type http from 'node:http';
import type http2 from 'node:http2';
import type { Flow } from '../flow.ts';
import type { AnyResponse } from '../respond.ts';
import type { RequestTarget } from '../stages/target.ts';
import type { AnyRequest } from './state.ts';

export function authorityOf(t: RequestTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return t.port === (t.scheme === 'https' ? 443 : 80) ? host : `${host}:${t.port}`;
}

export function requestHasBody(req: AnyRequest): boolean {
  if (req.httpVersionMajor === 2) return !(req as http2.Http2ServerRequest).stream.endAfterHeaders;
  const h = req.headers;
  return h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
}

/** The URL as the agent sent it (HTTP/2's :path, or the request line's target). */
export function urlOf(req: AnyRequest): string {
  return (req.httpVersionMajor === 2 ? (req as http2.Http2ServerRequest).url : req.url) ?? '/';
}

/** The authority the agent named: HTTP/2's :authority (or Host), HTTP/1's Host. */
export function authorityHeader(req: AnyRequest): string | undefined {
  return req.httpVersionMajor === 2 ? ((req.headers[':authority'] as string | undefined) ?? req.headers.host) : req.headers.host;
}

export function headerValue(v: string | string[] | undefined): string | undefined {
  const one = Array.isArray(v) ? v.join(', ') : v;
  return one?.trim().toLowerCase() || undefined;
}

/** Stopping: HTTP/1.1 answers with Connection: close, HTTP/2 gets a GOAWAY; this request still completes. */
export function closeAfter(req: AnyRequest, res: AnyResponse): void {
  if (req.httpVersionMajor === 2) (req as http2.Http2ServerRequest).stream.session?.close();
  else (res as http.ServerResponse).shouldKeepAlive = false;
}

/** HTTP/1.1: the rest of the agent's body may still be on its way, so this connection ends with the answer. */
export function endsConnection(req: AnyRequest, res: AnyResponse): void {
  if (req.httpVersionMajor !== 2) (res as http.ServerResponse).shouldKeepAlive = false;
}

/** The agent's body as it arrives, counted (and captured as sent, unless DLP captures it scanned). */
export async function* countUp(req: AnyRequest, flow: Flow, capture: boolean): AsyncGenerator<Buffer> {
  for await (const chunk of req as AsyncIterable<Buffer>) {
    flow.bytesUp += chunk.length;
    if (capture) flow.bodies?.request.add(chunk);
    yield chunk;
  }
}

/** A body already read, as the stream the upstream request pulls. */
export async function* once(body: Buffer): AsyncGenerator<Buffer> {
  if (body.length) yield body;
}
