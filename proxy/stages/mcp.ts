// MCP over HTTP (streamable HTTP and the older HTTP+SSE transport): a POST to a host rule with
// `mcp` carries JSON-RPC 2.0, one message or a batch. airlock reads it before forwarding, records
// each call's method and tool, and answers a tools/call the policy denies with a JSON-RPC error
// for that call's id, which MCP clients show as the tool call's error. Pure: values in, values out.
import type { McpPolicy } from '../../policies/types.ts';

export interface RpcCall {
  method: string;
  /** tools/call: the tool's name. */
  tool: string | null;
  /** The request's id as sent (number or string); null for a notification. */
  id: string | number | null;
}

export type RpcRead = { ok: true; calls: RpcCall[] } | { ok: false; reason: string };

/** Implementation-defined server error (JSON-RPC reserves -32000 to -32099 for these). */
export const TOOL_DENIED = -32001;
const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;

/** The JSON-RPC messages of a request body: requests and notifications; responses the client sends back carry no call. */
export function readRpc(body: Buffer): RpcRead {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'the MCP request body is not JSON' };
  }
  const messages = Array.isArray(v) ? v : [v];
  if (messages.length === 0) return { ok: false, reason: 'the MCP request body is an empty batch' };
  const calls: RpcCall[] = [];
  for (const m of messages) {
    if (m === null || typeof m !== 'object' || Array.isArray(m) || (m as { jsonrpc?: unknown }).jsonrpc !== '2.0') {
      return { ok: false, reason: 'the MCP request body is not JSON-RPC 2.0' };
    }
    const o = m as { method?: unknown; id?: unknown; params?: unknown };
    if (o.method === undefined) continue; // a response to a request of the server
    if (typeof o.method !== 'string') return { ok: false, reason: 'a JSON-RPC method is not a string' };
    const id = typeof o.id === 'string' || typeof o.id === 'number' ? o.id : null;
    let tool: string | null = null;
    if (o.method === 'tools/call') {
      const name = o.params !== null && typeof o.params === 'object' ? (o.params as { name?: unknown }).name : undefined;
      if (typeof name !== 'string' || name === '') return { ok: false, reason: 'a tools/call names no tool' };
      tool = name;
    }
    calls.push({ method: o.method, tool, id });
  }
  return { ok: true, calls };
}

function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&')).join('.*')}$`);
}

const compiled = new WeakMap<McpPolicy, { tools?: RegExp[]; deny: RegExp[] }>();

/** Why the policy denies calling this tool, or null when it allows it. Tool names compare case-sensitively. */
export function toolDenied(policy: McpPolicy, tool: string): string | null {
  let c = compiled.get(policy);
  if (!c) compiled.set(policy, (c = { ...(policy.tools ? { tools: policy.tools.map(glob) } : {}), deny: policy.deny.map(glob) }));
  const d = c.deny.findIndex((r) => r.test(tool));
  if (d >= 0) return `mcp.deny ${policy.deny[d]}`;
  if (c.tools && !c.tools.some((r) => r.test(tool))) return `not in mcp.tools (${policy.tools!.join(', ')})`;
  return null;
}

/** The first call the policy denies, with why. */
export function firstDenied(policy: McpPolicy, calls: RpcCall[]): { call: RpcCall; why: string } | null {
  for (const call of calls) {
    if (call.tool === null) continue;
    const why = toolDenied(policy, call.tool);
    if (why) return { call, why };
  }
  return null;
}

function error(id: string | number | null, code: number, message: string, data: Record<string, unknown>) {
  return { jsonrpc: '2.0', id, error: { code, message, data } };
}

/**
 * The answer to a request with a denied call: a JSON-RPC error for the denied call, and for the
 * other requests of a batch one saying the batch was not sent (nothing of it reached the server).
 */
export function deniedAnswer(calls: RpcCall[], denied: RpcCall, message: string, data: Record<string, unknown>, batch: boolean): string {
  if (!batch) return JSON.stringify(error(denied.id, TOOL_DENIED, message, data));
  const answers = calls
    .filter((c) => c.id !== null)
    .map((c) => (c === denied ? error(c.id, TOOL_DENIED, message, data) : error(c.id, TOOL_DENIED, `airlock did not send this batch: it holds a denied call (${denied.tool})`, { error: 'mcp_batch_refused' })));
  return JSON.stringify(answers);
}

/** A body that could not be read as JSON-RPC: the error JSON-RPC has for it (id null). */
export function unreadableAnswer(reason: string): string {
  return JSON.stringify(error(null, reason.includes('not JSON') && !reason.includes('JSON-RPC') ? PARSE_ERROR : INVALID_REQUEST, `airlock: ${reason}`, { error: 'mcp_unreadable' }));
}

/** Whether a body is a batch (a JSON array), from its first non-blank byte. */
export function isBatch(body: Buffer): boolean {
  for (const b of body) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    return b === 0x5b;
  }
  return false;
}
