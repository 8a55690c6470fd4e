// Groups LLM calls into sessions as they are written (schema 7, docs/audit.md#sessions): a call
// whose message history extends the previous call of an open session of the same agent continues
// it; anything else starts a new one. Runs in the writer's transaction, off the proxy's thread,
// and only for LLM calls. What a client changes in messages it resends is left out of a message's
// hash: Anthropic cache_control markers (Claude Code moves them every turn) and a text content
// written as a plain string one turn and as one text block the next. Every call resends the whole
// conversation, so the cost must follow what is new in it: the native addon finds the messages in
// the body without parsing it, and a message whose bytes were seen before takes its hash from a
// memo; only new messages are parsed (without the addon, the whole body is, as before).
// Plain CommonJS: loaded by the writer thread and the proxy thread alike.
'use strict';
const crypto = require('node:crypto');
const { native } = require('./chunks.cjs');

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

/** The key a conversation's list is under, per API (messagesOf). */
function listKey(api) {
  return api === 'gemini' ? 'contents' : api === 'openai-responses' ? 'input' : 'messages';
}

/** Hashes of messages by the SHA-256 of their bytes as sent; cleared when full (it only saves work). */
const MEMO_MAX = 20_000;

/**
 * What assign needs of a request, read without parsing it whole: {count, hashes, previousId}, or
 * undefined when this way does not apply (no addon, the list is not an array, a message or the
 * previous_response_id is not JSON): the caller then parses the body. Gives the same hashes as
 * hashes(messagesOf(api, JSON.parse(body))) (test/unit/llm-sessions.test.ts).
 */
function createFastReader() {
  const memo = new Map();
  return function read(api, data) {
    const addon = native();
    if (!addon || typeof addon.arrayElements !== 'function') return undefined;
    const top = addon.topLevel(data, [listKey(api), 'previous_response_id']);
    if (top[0] < 0 || data[top[0]] !== 0x5b /* [ */) return undefined;
    let previousId = null;
    if (api === 'openai-responses' && top[2] >= 0) {
      const v = parseJson(data.subarray(top[2], top[3]));
      if (v === null) return undefined;
      if (typeof v === 'string') previousId = v;
    }
    const at = addon.arrayElements(data, top[0], top[1]);
    const count = at.length / 2;
    if (count === 0) return null;
    const out = Buffer.alloc(count * HASH);
    for (let i = 0; i < count; i++) {
      const raw = data.subarray(at[2 * i], at[2 * i + 1]);
      const key = crypto.createHash('sha256').update(raw).digest('latin1');
      let h = memo.get(key);
      if (h === undefined) {
        const m = parseJson(raw);
        if (m === null && !raw.equals(NULL)) return undefined;
        h = crypto.createHash('sha256').update(canonical(m)).digest().toString('latin1', 0, HASH);
        if (memo.size >= MEMO_MAX) memo.clear();
        memo.set(key, h);
      }
      out.write(h, i * HASH, 'latin1');
    }
    return { count, hashes: out, previousId };
  };
}
const NULL = Buffer.from('null');

function createSessionIndexer(db) {
  const candidates = db.prepare(
    'SELECT id, turns, history FROM llm_sessions WHERE agent = ? AND first_key = ? AND last_at >= ? ORDER BY last_at DESC LIMIT ?',
  );
  const byResponse = db.prepare('SELECT s.id, s.turns FROM session_turns t JOIN llm_sessions s ON s.id = t.session_id WHERE t.response_id = ?');
  const insertSession = db.prepare(
    'INSERT INTO llm_sessions (agent, provider, first_flow, last_flow, started_at, last_at, turns, first_key, history) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)',
  );
  const extend = db.prepare('UPDATE llm_sessions SET last_flow = ?, last_at = ?, turns = turns + 1, history = ? WHERE id = ?');
  const fast = createFastReader();
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
    let read = fast(api, request.data);
    if (read === null) return;
    if (read === undefined) {
      const j = parseJson(request.data);
      const messages = messagesOf(api, j);
      if (!messages) return;
      read = { count: messages.length, hashes: hashes(messages), previousId: api === 'openai-responses' && typeof j.previous_response_id === 'string' ? j.previous_response_id : null };
    }
    const h = read.hashes;
    const first = h.subarray(0, HASH);
    const rid = api === 'openai-responses' && response && response.encoding === null ? responseId(response.data.subarray(0, 4096).toString('utf8')) : null;
    // OpenAI Responses with stored state: the call names the answer it continues instead of resending it.
    const previous = read.previousId !== null ? byResponse.get(read.previousId) : undefined;
    if (previous) {
      extend.run(flowId, startedAt, h, previous.id);
      insertTurn.run(flowId, previous.id, previous.turns + 1, read.count, 0, rid, tools);
      return;
    }
    let best;
    for (const c of candidates.all(agent, first, startedAt - IDLE_MS, CANDIDATES)) {
      const lcp = continues(c.history, h);
      if (lcp >= 0 && (!best || lcp > best.lcp)) best = { id: c.id, turns: c.turns, lcp };
    }
    if (best) {
      extend.run(flowId, startedAt, h, best.id);
      insertTurn.run(flowId, best.id, best.turns + 1, read.count, best.lcp, rid, tools);
      return;
    }
    const id = Number(insertSession.run(agent, provider, flowId, flowId, startedAt, startedAt, first, h).lastInsertRowid);
    insertTurn.run(flowId, id, 1, read.count, 0, rid, tools);
  };
}

module.exports = { createSessionIndexer, createFastReader, agentOf, messagesOf, canonical, hashes, continues, IDLE_MS };
