// Groups LLM calls into sessions as they are written (schema 7, docs/audit.md#sessions): a call
// whose message history extends the previous call of an open session of the same agent continues
// it; anything else starts a new one. Runs in the writer's transaction, off the proxy's thread,
// and only for LLM calls: each request body is parsed once (at most store.body_cap_bytes) and its
// messages hashed. What a client changes in messages it resends is left out of the hash: Anthropic
// cache_control markers (Claude Code moves them every turn) and a text content written as a plain
// string one turn and as one text block the next.
// Plain CommonJS: loaded by the writer thread and the proxy thread alike.
'use strict';
const crypto = require('node:crypto');

/** A session quiet for longer than this is not continued: the agent started over. */
const IDLE_MS = 4 * 3600_000;
/** Open sessions of one agent starting with the same message that are tried, newest first. */
const CANDIDATES = 20;
const HASH = 8;

/** The agent a flow is counted for: its Proxy-Authorization user, else the listener it came in on. */
function agentOf(agentUser, listener) {
  return agentUser != null && agentUser !== '' ? agentUser : `listener:${listener}`;
}

function strip(v) {
  if (Array.isArray(v)) return v.map(strip);
  if (v === null || typeof v !== 'object') return v;
  const o = {};
  for (const k of Object.keys(v)) if (k !== 'cache_control') o[k] = strip(v[k]);
  return o;
}

/** The conversation a request carries, in order, or null when it has none (or is not JSON). */
function messagesOf(api, j) {
  if (j === null || typeof j !== 'object' || Array.isArray(j)) return null;
  let list;
  if (api === 'gemini') list = j.contents;
  else if (api === 'openai-responses') list = typeof j.input === 'string' ? [{ role: 'user', content: j.input }] : j.input;
  else list = j.messages;
  return Array.isArray(list) && list.length > 0 ? list : null;
}

/** One message as hashed: markers stripped, string content as one text block. */
function canonical(m) {
  const c = strip(m);
  if (c && typeof c === 'object' && typeof c.content === 'string') c.content = [{ type: 'text', text: c.content }];
  return JSON.stringify(c);
}

function hashes(messages) {
  const out = Buffer.alloc(messages.length * HASH);
  messages.forEach((m, i) => crypto.createHash('sha256').update(canonical(m)).digest().copy(out, i * HASH, 0, HASH));
  return out;
}

/** Messages two hash lists share from the start. */
function commonPrefix(a, b) {
  const n = Math.min(a.length, b.length) / HASH;
  for (let i = 0; i < n; i++) if (a.compare(b, i * HASH, (i + 1) * HASH, i * HASH, (i + 1) * HASH) !== 0) return i;
  return n;
}

/**
 * Whether `next` continues a call whose messages were `prev`: every message of it again, in order,
 * and more or as many (an identical resend is a retry); the last of them may differ when more
 * follow (a client that rewrites its last message when it answers it).
 */
function continues(prev, next) {
  const p = prev.length / HASH;
  if (next.length < prev.length) return -1;
  const lcp = commonPrefix(prev, next);
  if (lcp === p) return lcp;
  return p >= 2 && lcp === p - 1 && next.length > prev.length ? lcp : -1;
}

/** An OpenAI Responses answer's id (to link a later call's previous_response_id). */
function responseId(text) {
  const m = /"id"\s*:\s*"(resp_[A-Za-z0-9_-]{1,200})"/.exec(text);
  return m ? m[1] : null;
}

function parseJson(buf) {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    return null;
  }
}

function createSessionIndexer(db) {
  const candidates = db.prepare(
    'SELECT id, turns, history FROM llm_sessions WHERE agent = ? AND first_key = ? AND last_at >= ? ORDER BY last_at DESC LIMIT ?',
  );
  const byResponse = db.prepare('SELECT s.id, s.turns FROM session_turns t JOIN llm_sessions s ON s.id = t.session_id WHERE t.response_id = ?');
  const insertSession = db.prepare(
    'INSERT INTO llm_sessions (agent, provider, first_flow, last_flow, started_at, last_at, turns, first_key, history) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)',
  );
  const extend = db.prepare('UPDATE llm_sessions SET last_flow = ?, last_at = ?, turns = turns + 1, history = ? WHERE id = ?');
  const insertTurn = db.prepare('INSERT INTO session_turns (flow_id, session_id, turn, messages, new_from, response_id, tools) VALUES (?, ?, ?, ?, ?, ?, ?)');

  /**
   * Files flow `flowId` (an LLM call of `api`) into a session. `request`/`response`: its stored
   * bodies ({data, truncated, encoding}); `called`: the tools its answer called. A request that
   * cannot be read (cut at the cap, encoded, not JSON) is left out: nothing can be said about
   * which conversation it belongs to.
   */
  return function assign(flowId, api, provider, agent, startedAt, request, response, called) {
    const tools = Array.isArray(called) && called.length ? JSON.stringify(called) : null;
    if (!request || request.truncated || request.encoding !== null) return;
    const j = parseJson(request.data);
    const messages = messagesOf(api, j);
    if (!messages) return;
    const h = hashes(messages);
    const first = h.subarray(0, HASH);
    const rid = api === 'openai-responses' && response && response.encoding === null ? responseId(response.data.subarray(0, 4096).toString('utf8')) : null;
    // OpenAI Responses with stored state: the call names the answer it continues instead of resending it.
    const previous = api === 'openai-responses' && typeof j.previous_response_id === 'string' ? byResponse.get(j.previous_response_id) : undefined;
    if (previous) {
      extend.run(flowId, startedAt, h, previous.id);
      insertTurn.run(flowId, previous.id, previous.turns + 1, messages.length, 0, rid, tools);
      return;
    }
    let best;
    for (const c of candidates.all(agent, first, startedAt - IDLE_MS, CANDIDATES)) {
      const lcp = continues(c.history, h);
      if (lcp >= 0 && (!best || lcp > best.lcp)) best = { id: c.id, turns: c.turns, lcp };
    }
    if (best) {
      extend.run(flowId, startedAt, h, best.id);
      insertTurn.run(flowId, best.id, best.turns + 1, messages.length, best.lcp, rid, tools);
      return;
    }
    const id = Number(insertSession.run(agent, provider, flowId, flowId, startedAt, startedAt, first, h).lastInsertRowid);
    insertTurn.run(flowId, id, 1, messages.length, 0, rid, tools);
  };
}

module.exports = { createSessionIndexer, agentOf, messagesOf, canonical, hashes, continues, IDLE_MS };
