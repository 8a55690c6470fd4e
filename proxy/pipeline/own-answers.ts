// Requests airlock answers itself, recorded like any flow: the CA page, and the refusal of a
// connection explained inside TLS (explain_in_tls).
import type http from 'node:http';
import type { Config } from '../../policies/types.ts';
import { CA_PAGE_HOST, caPage } from '../ca-page.ts';
import type { ConnInfo } from '../conn.ts';
import { rulesFor } from '../dlp/policy.ts';
import { newFlow } from '../flow.ts';
import { type AnyResponse, sendRefusal } from '../respond.ts';
import { forwardableHeaders } from '../stages/headers.ts';
import { sealRefusedHead } from '../stages/seal.ts';
import { requestTarget } from '../stages/target.ts';
import { authorityHeader, closeAfter, urlOf } from './request-facts.ts';
import type { AnyRequest, PipelineState } from './state.ts';

/** A request for the CA page: in a tunnel to its name, or naming it in Host (a cheap look before the full target check). */
export function isCaPage(req: AnyRequest, conn: ConnInfo): boolean {
  if (conn.pinned) return conn.pinned.host === CA_PAGE_HOST;
  const host = authorityHeader(req);
  return host !== undefined && host.toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '') === CA_PAGE_HOST;
}

/** The CA page (proxy/ca-page.ts): the public certificate and install steps, recorded like any flow. */
export function serveCaPage(p: PipelineState, req: AnyRequest, res: AnyResponse, conn: ConnInfo, ca: { pem: string; der: Buffer }, config: Config): void {
  const t = requestTarget(conn, urlOf(req), authorityHeader(req));
  const path = t.ok ? t.target.path : '/';
  const page = caPage(path, req.method ?? 'GET', ca.pem, ca.der);
  const flow = newFlow({ entry: conn.entry, listener: conn.listener, client: conn.client, agentUser: conn.agentUser, method: req.method, protocol: req.httpVersionMajor === 2 ? 'h2' : 'h1' });
  Object.assign(flow, { scheme: t.ok ? t.target.scheme : 'http', host: CA_PAGE_HOST, port: t.ok ? t.target.port : 80, path: path.split('?')[0], decision: 'allow', status: page.status, ruleId: 'airlock-ca-page' });
  const body = typeof page.body === 'string' ? Buffer.from(page.body) : page.body;
  flow.bytesDown = body.length;
  try {
    (res as http.ServerResponse).writeHead(page.status, { ...page.headers, 'content-length': body.length });
    if (req.method === 'HEAD') res.end();
    else res.end(body);
  } catch {
    res.destroy();
  }
  req.resume();
  p.finish(flow, config, null, true); // the path is the agent's, unread by DLP
}

/** explain_in_tls: the connection was refused; each request on it gets the refusal, inside TLS, and the connection closes. */
export function explainRefusal(p: PipelineState, req: AnyRequest, res: AnyResponse, conn: ConnInfo, config: Config): void {
  const e = conn.explain!;
  const flow = newFlow({ entry: conn.entry, listener: conn.listener, client: conn.client, agentUser: conn.agentUser, method: req.method, protocol: req.httpVersionMajor === 2 ? 'h2' : 'h1' });
  const url = urlOf(req);
  const q = url.indexOf('?');
  Object.assign(flow, {
    scheme: 'https', host: conn.pinned?.host, port: conn.pinned?.port, path: q < 0 ? url : url.slice(0, q), query: q < 0 ? undefined : url.slice(q + 1),
    decision: 'deny', status: 403, code: e.code, reason: e.reason, ruleId: e.rule,
  });
  // What the agent sent is recorded as any refused head is: every DLP finding redacted.
  sealRefusedHead(flow, rulesFor(config.dlp, flow.host ?? '', flow.path ?? '/'), url, forwardableHeaders(req.rawHeaders));
  closeAfter(req, res);
  sendRefusal(res, 403, { error: e.code, host: conn.pinned?.host, reason: e.reason, rule: e.rule, hint: e.hint });
  req.resume();
  p.finish(flow, config);
}
