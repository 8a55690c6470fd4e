// An MCP request to a server with `mcp` rules: its body read whole (up to mcp.max_body) and its
// calls checked against the rules before anything goes upstream.
import type { McpPolicy } from '../../policies/types.ts';
import { hintFor, sendJson, sendRefusal, type AnyResponse } from '../respond.ts';
import { deniedAnswer, firstDenied, isBatch, readRpc, unreadableAnswer } from '../stages/mcp.ts';
import { countUp, endsConnection } from './request-facts.ts';
import { storeScanned } from './body-dlp.ts';
import type { Admitted, AnyRequest, PipelineState } from './state.ts';

/**
 * The request's body when it may go on; or, answered here (a denied tool, an unreadable or
 * oversized body), null. Recorded either way, its calls and (DLP-scanned) body included.
 * `encoding`: the coding DLP reads the body through.
 */
export async function readMcp(p: PipelineState, req: AnyRequest, res: AnyResponse, a: Admitted, policy: McpPolicy, encoding: string | undefined): Promise<Buffer | null> {
  const { flow, rule, target } = a;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of countUp(req, flow, !a.rules)) {
    size += chunk.length;
    if (size > policy.maxBodyBytes) {
      const reason = `the MCP request body is larger than ${policy.maxBodyBytes} bytes (hosts[${rule.index}].mcp.max_body), so airlock cannot check it`;
      Object.assign(flow, { decision: 'refuse', status: 413, code: 'mcp_body_too_large', reason });
      endsConnection(req, res);
      sendRefusal(res, 413, { error: 'mcp_body_too_large', host: target.host, reason, rule: rule.id });
      req.resume();
      p.done(a);
      return null;
    }
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  const read = readRpc(body);
  const answer = (text: string, status: number) => {
    flow.status = status;
    // Kept for the record like a response from the server would be.
    flow.responseHeaders = { 'content-type': 'application/json' };
    flow.bodies?.response.add(Buffer.from(text));
    flow.bytesDown += Buffer.byteLength(text);
    sendJson(res, status, text, { error: flow.code!, reason: flow.reason! });
  };
  if (!read.ok) {
    Object.assign(flow, { decision: 'refuse', code: 'mcp_unreadable', reason: read.reason });
    await storeScanned(req, a, body, encoding);
    answer(unreadableAnswer(read.reason), 400);
    p.done(a);
    return null;
  }
  flow.mcp = read.calls.map((c) => ({ method: c.method, tool: c.tool, id: c.id === null ? null : String(c.id) }));
  const denied = firstDenied(policy, read.calls);
  if (!denied) return body;
  const reason = `the MCP tool "${denied.call.tool}" is denied by rule ${rule.id} (${denied.why})`;
  Object.assign(flow, { decision: 'deny', code: 'mcp_tool_denied', reason });
  await storeScanned(req, a, body, encoding);
  answer(deniedAnswer(read.calls, denied.call, `airlock: ${reason}`, { error: 'mcp_tool_denied', tool: denied.call.tool, rule: rule.id, hint: hintFor('mcp_tool_denied') }, isBatch(body)), 200);
  p.done(a);
  return null;
}
