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

/**
 * A reader of what a call says about the session it belongs to: turnOf(api, request, response,
 * called) is null when it cannot say (a request cut at the cap, encoded, not JSON, without
 * messages). `tools`: the tools its answer called (JSON). Each reader keeps its own memo.
 */
function createTurnReader() {
  const fast = createFastReader();
  return function turnOf(api, request, response, called) {
    if (!request || request.truncated || request.encoding !== null) return null;
    let read = fast(api, request.data);
    if (read === null) return null;
    if (read === undefined) {
      const j = parseJson(request.data);
      const messages = messagesOf(api, j);
      if (!messages) return null;
      read = { count: messages.length, hashes: hashes(messages), previousId: api === 'openai-responses' && typeof j.previous_response_id === 'string' ? j.previous_response_id : null };
    }
    return {
      messages: read.count,
      history: read.hashes,
      first: read.hashes.subarray(0, HASH),
      tools: Array.isArray(called) && called.length ? JSON.stringify(called) : null,
      responseId: api === 'openai-responses' && response && response.encoding === null ? responseId(response.data.subarray(0, 4096).toString('utf8')) : null,
      // OpenAI Responses with stored state: the call names the answer it continues instead of resending it.
      previousResponseId: read.previousId,
    };
  };
}

/**
 * Where a turn goes: the session named by its previous response, else the open session whose
 * history it continues furthest (`candidates`: {id, turns, history}, newest first), else a new
 * one. Returns {session, turn, newFrom} to extend a session, or null to start one. Shared by the
 * SQLite and the PostgreSQL writers, so both group alike.
 */
function placeTurn(t, previous, candidates) {
  if (previous) return { session: previous.id, turn: previous.turns + 1, newFrom: 0 };
  let best;
  for (const c of candidates) {
    const lcp = continues(c.history, t.history);
    if (lcp >= 0 && (!best || lcp > best.lcp)) best = { id: c.id, turns: c.turns, lcp };
  }
  return best ? { session: best.id, turn: best.turns + 1, newFrom: best.lcp } : null;
}

/** The grouping over SQLite (the writer's transaction, synchronous). */
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
  const turnOf = createTurnReader();

  /**
   * Files flow `flowId` (an LLM call of `api`) into a session. `request`/`response`: its stored
   * bodies ({data, truncated, encoding}); `called`: the tools its answer called. A request that
   * cannot be read (cut at the cap, encoded, not JSON) is left out: nothing can be said about
   * which conversation it belongs to.
   */
  return function assign(flowId, api, provider, agent, startedAt, request, response, called) {
    const t = turnOf(api, request, response, called);
    if (!t) return;
    const previous = t.previousResponseId !== null ? byResponse.get(t.previousResponseId) : undefined;
    const place = placeTurn(t, previous, previous ? [] : candidates.all(agent, t.first, startedAt - IDLE_MS, CANDIDATES));
    if (place) {
      extend.run(flowId, startedAt, t.history, place.session);
      insertTurn.run(flowId, place.session, place.turn, t.messages, place.newFrom, t.responseId, t.tools);
      return;
    }
    const id = Number(insertSession.run(agent, provider, flowId, flowId, startedAt, startedAt, t.first, t.history).lastInsertRowid);
    insertTurn.run(flowId, id, 1, t.messages, 0, t.responseId, t.tools);
  };
}

/** The same grouping over PostgreSQL (pg/batch.cjs, inside its transaction and write lock). */
function createPgSessionIndexer() {
  const turnOf = createTurnReader();
  return async function assign(client, flowId, api, provider, agent, startedAt, request, response, called) {
    const t = turnOf(api, request, response, called);
    if (!t) return;
    const previous =
      t.previousResponseId !== null
        ? (await client.query('SELECT s.id, s.turns FROM session_turns t JOIN llm_sessions s ON s.id = t.session_id WHERE t.response_id = $1 LIMIT 1', [t.previousResponseId])).rows[0]
        : undefined;
    const candidates = previous
      ? []
      : (
          await client.query('SELECT id, turns, history FROM llm_sessions WHERE agent = $1 AND first_key = $2 AND last_at >= $3 ORDER BY last_at DESC LIMIT $4', [
            agent,
            t.first,
            startedAt - IDLE_MS,
            CANDIDATES,
          ])
        ).rows;
    const place = placeTurn(t, previous && { id: Number(previous.id), turns: Number(previous.turns) }, candidates.map((c) => ({ id: Number(c.id), turns: Number(c.turns), history: c.history })));
    let session = place && place.session;
    if (place) {
      await client.query('UPDATE llm_sessions SET last_flow = $1, last_at = $2, turns = turns + 1, history = $3 WHERE id = $4', [flowId, startedAt, t.history, session]);
    } else {
      session = Number(
        (
          await client.query(
            'INSERT INTO llm_sessions (agent, provider, first_flow, last_flow, started_at, last_at, turns, first_key, history) VALUES ($1, $2, $3, $3, $4, $4, 1, $5, $6) RETURNING id',
            [agent, provider, flowId, startedAt, t.first, t.history],
          )
        ).rows[0].id,
      );
    }
    await client.query('INSERT INTO session_turns (flow_id, session_id, turn, messages, new_from, response_id, tools) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      flowId,
      session,
      place ? place.turn : 1,
      t.messages,
      place ? place.newFrom : 0,
      t.responseId,
      t.tools,
    ]);
  };
}

module.exports = { createSessionIndexer, createPgSessionIndexer, createTurnReader, placeTurn, createFastReader, agentOf, messagesOf, canonical, hashes, continues, IDLE_MS };
