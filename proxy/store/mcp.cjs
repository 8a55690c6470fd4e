// The mcp_calls rows of an MCP request (schema 7): each JSON-RPC call it carried, with the tool's
// arguments read from the request body as stored, so with every DLP finding redacted. When the
// body was not stored whole (capture off, cut at the cap), the calls the pipeline read before
// forwarding are kept without their arguments.
// Plain CommonJS: loaded by the writer thread and the proxy thread alike.
'use strict';

/** Arguments are kept up to this many characters (the body keeps all of them, up to its cap). */
const MAX_ARGUMENTS = 16 * 1024;
const MAX_CALLS = 100;

const text = (v, max = 200) => (typeof v === 'string' && v.length > 0 ? v.slice(0, max) : null);
const idOf = (v) => (typeof v === 'string' || typeof v === 'number' ? String(v).slice(0, 200) : null);

function argumentsOf(method, params) {
  const v = method === 'tools/call' && params && typeof params === 'object' ? params.arguments : params;
  if (v === undefined) return null;
  const s = JSON.stringify(v);
  return s.length > MAX_ARGUMENTS ? `${s.slice(0, MAX_ARGUMENTS)}…` : s;
}

/** `known`: [{method, tool, id}] as the pipeline read them; `request`: the stored request body. */
function mcpCallsOf(known, request) {
  let parsed = null;
  if (request && !request.truncated && request.encoding === null) {
    try {
      parsed = JSON.parse(request.data.toString('utf8'));
    } catch {
      parsed = null;
    }
  }
  const messages = parsed === null ? null : Array.isArray(parsed) ? parsed : [parsed];
  if (!messages) return known.slice(0, MAX_CALLS).map((k) => ({ method: String(k.method), tool: k.tool ?? null, id: k.id ?? null, arguments: null }));
  const out = [];
  for (const m of messages) {
    if (out.length >= MAX_CALLS) break;
    if (!m || typeof m !== 'object' || typeof m.method !== 'string') continue;
    const params = m.params && typeof m.params === 'object' ? m.params : undefined;
    out.push({
      method: m.method.slice(0, 200),
      tool: m.method === 'tools/call' ? text(params && params.name) : null,
      id: idOf(m.id),
      arguments: argumentsOf(m.method, params),
    });
  }
  return out;
}

module.exports = { mcpCallsOf };
