// The web UI's JSON API over the audit trail: read-only, token-protected (docs/api.md).
// Filters are those of `airlock flows list` (proxy/flow-filter.ts filterOf), and every value reaches
// SQLite as a bound parameter (proxy/store/search.ts). This module never listens: server.ts does.
import crypto from 'node:crypto';
import type Database from 'better-sqlite3';
import { Hono, type Context } from 'hono';
import { bodiesOf, type FlowRow, HAR_HEAD, HAR_TAIL, harEntry, jsonlRecord, urlOf } from '../proxy/cli/flows.ts';
import { DECISIONS, type FilterOptions, filterOf, positiveInt, UsageError } from '../proxy/flow-filter.ts';
import { type FlowFilter, whereClause } from '../proxy/store/search.ts';
import { selectFlows } from './queries.ts';
import type { UiTokens } from './tokens.ts';

export interface ApiOptions {
  /** A read-only connection to the flow store (called per request; may open it lazily). */
  db: () => Database.Database;
  /** sha256 hex of the one bearer token accepted (web-ui/token.ts); or: */
  tokenHash?: string;
  /** every token in force, of either role (web-ui/tokens.ts): the API is read-only for both. */
  tokens?: UiTokens;
}

export const MAX_LIMIT = 500;
const DEFAULT_LIMIT = 50;
/** Rows read per step while an export streams. */
const EXPORT_CHUNK = 100;
const TOP_N = 10;

const FILTER_PARAMS = ['host', 'decision', 'method', 'status', 'since', 'until', 'rule', 'agent', 'path', 'has_finding', 'text', 'q'];
const LIST_PARAMS = [...FILTER_PARAMS, 'after', 'limit'];
const EXPORT_PARAMS = [...LIST_PARAMS, 'format'];
const STATS_PARAMS = FILTER_PARAMS;

/** The columns of a list row: enough for a table, no headers or bodies. Constants, spliced as SQL. */
export const LIST_COLUMNS =
  'flows.id AS id, flow_id, started_at, entry, listener, agent_user, method, scheme, host, port, path, query, protocol, status, decision, rule_id, code, ' +
  'bytes_up, bytes_down, ttfb_ms, total_ms, llm_provider, llm_model';

export const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

interface ErrorBody {
  error: string;
  reason: string;
}

export function createApi(opts: ApiOptions): Hono {
  if (!opts.tokens && !/^[0-9a-f]{64}$/i.test(opts.tokenHash ?? '')) throw new Error('tokenHash must be a sha256 hex digest');
  const expected = opts.tokenHash ? Buffer.from(opts.tokenHash, 'hex') : undefined;
  const valid = (token: string): boolean => {
    if (opts.tokens) return opts.tokens.verify(token) !== undefined;
    // Hashing first makes both sides 32 bytes: timingSafeEqual then compares without a length leak.
    return crypto.timingSafeEqual(crypto.createHash('sha256').update(token, 'utf8').digest(), expected!);
  };
  const app = new Hono();
  const fail = (c: Context, status: 400 | 401 | 404 | 405 | 500, error: string, reason: string) => c.json<ErrorBody>({ error, reason }, status);

  // Outermost: every response, errors and 401s included, carries the security headers.
  app.use('*', async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(k, v);
  });

  app.use('*', async (c, next) => {
    const m = /^Bearer ([^\s]+)$/i.exec(c.req.header('authorization') ?? '');
    if (!m || !valid(m[1])) {
      c.header('www-authenticate', 'Bearer realm="airlock"');
      return fail(c, 401, 'unauthorized', m ? 'the bearer token is not valid' : 'send the token as "Authorization: Bearer TOKEN"');
    }
    await next();
  });

  app.use('*', async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      c.header('allow', 'GET, HEAD');
      return fail(c, 405, 'method_not_allowed', 'the API is read-only: only GET and HEAD');
    }
    await next();
  });

  app.get('/api/flows', (c) => {
    const q = params(c, LIST_PARAMS);
    const limit = limitOf(q.limit, DEFAULT_LIMIT);
    // Like `airlock flows list`: without a cursor the newest `limit`, with one the next `limit` forward; oldest first.
    const f = filterFrom(q);
    const rows = selectFlows<FlowRow>(opts.db(), f, { order: f.after === undefined ? 'DESC' : 'ASC', limit, columns: LIST_COLUMNS });
    if (f.after === undefined) rows.reverse();
    const flows = rows.map((r) => ({ ...r, time: new Date(r.started_at).toISOString(), url: r.method && r.method !== 'CONNECT' && r.host ? urlOf(r) : null }));
    return c.json({ flows, next: rows.length === limit ? rows[rows.length - 1].id : null });
  });

  app.get('/api/flows/:id', (c) => {
    params(c, []);
    const ref = c.req.param('id');
    const db = opts.db();
    const r = (/^\d+$/.test(ref) ? db.prepare('SELECT * FROM flows WHERE id = ?').get(Number(ref)) : db.prepare('SELECT * FROM flows WHERE flow_id = ?').get(ref)) as
      | FlowRow
      | undefined;
    if (!r) return fail(c, 404, 'not_found', `no flow ${ref}`);
    const findings = db.prepare('SELECT id, rule_id, location, action, preview FROM findings WHERE flow_id = ? ORDER BY id').all(r.id);
    return c.json({ ...jsonlRecord(r, bodiesOf(db)(r.id)), url: r.method && r.method !== 'CONNECT' && r.host ? urlOf(r) : null, findings });
  });

  app.get('/api/stats', (c) => {
    const q = params(c, STATS_PARAMS);
    const f = filterFrom({ since: '1h', ...q });
    return c.json(stats(opts.db(), f));
  });

  app.get('/api/export', (c) => {
    const q = params(c, EXPORT_PARAMS);
    const format = q.format ?? 'jsonl';
    if (format !== 'jsonl' && format !== 'har') throw new UsageError('format must be jsonl or har');
    const f = filterFrom(q);
    const limit = q.limit === undefined ? Infinity : positiveInt(q.limit, 'limit', 1);
    const db = opts.db();
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    c.header('content-type', format === 'har' ? 'application/json; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
    c.header('content-disposition', `attachment; filename="airlock-flows-${stamp}.${format}"`);
    return c.body(exportStream(db, f, format, limit));
  });

  app.notFound((c) => fail(c, 404, 'not_found', `no endpoint ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => {
    if (err instanceof UsageError) return fail(c, 400, 'bad_request', err.message);
    return fail(c, 500, 'internal_error', err.message);
  });
  return app;
}

/** The query parameters, each at most once and every one known: a typo is a 400, not a silent no-op. */
export function params(c: Context, allowed: string[]): Record<string, string> {
  const all = c.req.queries();
  const out: Record<string, string> = {};
  for (const [k, values] of Object.entries(all)) {
    if (!allowed.includes(k)) throw new UsageError(`unknown parameter "${k}"${allowed.length ? ` (expected ${allowed.join(', ')})` : ''}`);
    if (values.length !== 1) throw new UsageError(`parameter "${k}" given more than once`);
    out[k] = values[0];
  }
  return out;
}

function limitOf(text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : positiveInt(text, 'limit', 1, MAX_LIMIT);
}

/** Query parameters -> the CLI's filter options -> a validated FlowFilter. */
export function filterFrom(q: Record<string, string>): FlowFilter {
  const o: FilterOptions = {};
  for (const k of ['host', 'decision', 'method', 'status', 'since', 'until', 'rule', 'agent', 'path', 'text', 'after', 'q'] as const) {
    if (q[k] !== undefined) o[k] = q[k];
  }
  if (q.has_finding !== undefined) {
    if (!['1', 'true', '0', 'false'].includes(q.has_finding)) throw new UsageError('has_finding must be true or false');
    if (q.has_finding === '1' || q.has_finding === 'true') o['has-finding'] = true;
  }
  if (o.decision !== undefined && !DECISIONS.includes(o.decision)) throw new UsageError(`decision must be one of ${DECISIONS.join(', ')}`);
  return filterOf(o, '');
}

/** Every matching flow, oldest first, read EXPORT_CHUNK rows at a time as the client takes them. */
export function exportStream(db: Database.Database, f: FlowFilter, format: 'jsonl' | 'har', limit: number): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  const bodies = bodiesOf(db);
  let cursor = f.after ?? 0;
  let left = limit;
  let count = 0;
  let started = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      let out = '';
      if (!started) {
        started = true;
        if (format === 'har') out += HAR_HEAD;
      }
      const rows = left > 0 ? selectFlows<FlowRow>(db, f, { after: cursor, order: 'ASC', limit: Math.min(EXPORT_CHUNK, left), columns: 'flows.*' }) : [];
      for (const r of rows) {
        cursor = r.id;
        left--;
        if (format === 'jsonl') out += JSON.stringify(jsonlRecord(r, bodies(r.id))) + '\n';
        else if (r.method && r.host) out += (count++ ? ',' : '') + JSON.stringify(harEntry(r, bodies(r.id)));
        // HAR: a refused connection (bad TLS, garbage) has no HTTP request to describe.
      }
      const done = rows.length < EXPORT_CHUNK || left <= 0;
      if (done && format === 'har') out += HAR_TAIL;
      if (out) controller.enqueue(enc.encode(out));
      if (done) controller.close();
    },
  });
}

export interface Stats {
  since: string | null;
  until: string | null;
  total: number;
  decisions: Record<string, number>;
  per_minute: { minute: string; counts: Record<string, number>; bytes: { up: number; down: number } }[];
  bytes: { up: number; down: number };
  top_hosts: { host: string; count: number }[];
  top_rules: { rule: string; count: number }[];
  latency_ms: { count: number; p50: number | null; p90: number | null; p99: number | null };
}

/** Totals, top hosts and rules, percentiles, and counts and bytes per bucket (`bucketMs`, a minute for the API). */
export function stats(db: Database.Database, f: FlowFilter, bucketMs = 60_000): Stats {
  const { where, params } = whereClause(f);
  const and = (clause: string) => (where ? `${where} AND ${clause}` : `WHERE ${clause}`);
  const run = db.transaction(() => {
    const perMinute = db
      .prepare(
        `SELECT (started_at / CAST(? AS INTEGER)) * CAST(? AS INTEGER) AS minute, decision, COUNT(*) AS n, SUM(bytes_up) AS up, SUM(bytes_down) AS down FROM flows ${where} GROUP BY minute, decision ORDER BY minute`,
      )
      .all(bucketMs, bucketMs, ...params) as { minute: number; decision: string; n: number; up: number; down: number }[];
    const totals = db.prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(bytes_up), 0) AS up, COALESCE(SUM(bytes_down), 0) AS down FROM flows ${where}`).get(...params) as {
      n: number;
      up: number;
      down: number;
    };
    const hosts = db
      // "+host" keeps SQLite on the time window instead of walking the whole host index (web-ui/queries.ts hostsOverview).
      .prepare(`SELECT host, COUNT(*) AS count FROM flows ${and('+host IS NOT NULL')} GROUP BY +host ORDER BY count DESC, host LIMIT ?`)
      .all(...params, TOP_N) as { host: string; count: number }[];
    const rules = db
      .prepare(`SELECT rule_id AS rule, COUNT(*) AS count FROM flows ${and('rule_id IS NOT NULL')} GROUP BY rule_id ORDER BY count DESC, rule_id LIMIT ?`)
      .all(...params, TOP_N) as { rule: string; count: number }[];
    const timed = (db.prepare(`SELECT COUNT(*) AS n FROM flows ${and('total_ms IS NOT NULL')}`).get(...params) as { n: number }).n;
    const nth = db.prepare(`SELECT total_ms AS v FROM flows ${and('total_ms IS NOT NULL')} ORDER BY total_ms LIMIT 1 OFFSET ?`);
    // Nearest-rank percentile: the smallest value with at least p of the values at or below it.
    const pct = (p: number) => (timed ? (nth.get(...params, Math.max(0, Math.ceil(p * timed) - 1)) as { v: number }).v : null);
    return { perMinute, totals, hosts, rules, timed, p50: pct(0.5), p90: pct(0.9), p99: pct(0.99) };
  });
  const r = run();
  const decisions: Record<string, number> = Object.fromEntries(DECISIONS.map((d) => [d, 0]));
  const minutes = new Map<number, { counts: Record<string, number>; bytes: { up: number; down: number } }>();
  for (const { minute, decision, n, up, down } of r.perMinute) {
    decisions[decision] = (decisions[decision] ?? 0) + n;
    let m = minutes.get(minute);
    if (!m) minutes.set(minute, (m = { counts: Object.fromEntries(DECISIONS.map((d) => [d, 0])), bytes: { up: 0, down: 0 } }));
    m.counts[decision] = (m.counts[decision] ?? 0) + n;
    m.bytes.up += up;
    m.bytes.down += down;
  }
  return {
    since: f.since === undefined ? null : new Date(f.since).toISOString(),
    until: f.until === undefined ? null : new Date(f.until).toISOString(),
    total: r.totals.n,
    decisions,
    per_minute: [...minutes].map(([minute, m]) => ({ minute: new Date(minute).toISOString(), ...m })),
    bytes: { up: r.totals.up, down: r.totals.down },
    top_hosts: r.hosts,
    top_rules: r.rules,
    latency_ms: { count: r.timed, p50: r.p50, p90: r.p90, p99: r.p99 },
  };
}
