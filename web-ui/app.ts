// The web UI's JSON API over the audit trail: read-only, token-protected (docs/api.md).
// Filters are those of `airlock flows list` (proxy/flow-filter.ts filterOf), and every value reaches
// the store as a bound parameter (proxy/store/search.ts, pg/search.ts). This module never
// listens: server.ts does.
import crypto from 'node:crypto';
import { Hono, type Context } from 'hono';
import { type FlowRow, HAR_HEAD, HAR_TAIL, harEntry, jsonlRecord, urlOf } from '../proxy/cli/flows.ts';
import { DECISIONS, type FilterOptions, filterOf, positiveInt, UsageError } from '../proxy/flow-filter.ts';
import type { FlowReader } from '../proxy/store/reader.ts';
import type { FlowFilter } from '../proxy/store/search.ts';
import type { UiTokens } from './tokens.ts';

export interface ApiOptions {
  /** The flow store, read-only (SQLite or PostgreSQL). */
  reader: FlowReader;
  /** sha256 hex of the one bearer token accepted (web-ui/token.ts); or: */
  tokenHash?: string;
  /** every token in force, of either role (web-ui/tokens.ts): the API is read-only for both. */
  tokens?: UiTokens;
}

export const MAX_LIMIT = 500;
const DEFAULT_LIMIT = 50;
/** Rows read per step while an export streams. */
const EXPORT_CHUNK = 100;
const FILTER_PARAMS = ['host', 'decision', 'method', 'status', 'since', 'until', 'rule', 'agent', 'path', 'has_finding', 'text', 'q', 'instance'];
const LIST_PARAMS = [...FILTER_PARAMS, 'after', 'limit'];
const EXPORT_PARAMS = [...LIST_PARAMS, 'format'];
const STATS_PARAMS = FILTER_PARAMS;

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

  app.get('/api/flows', async (c) => {
    const q = params(c, LIST_PARAMS);
    const limit = limitOf(q.limit, DEFAULT_LIMIT);
    // Like `airlock flows list`: without a cursor the newest `limit`, with one the next `limit` forward; oldest first.
    const f = filterFrom(q);
    const rows = await opts.reader.list(f, { order: f.after === undefined ? 'DESC' : 'ASC', limit });
    if (f.after === undefined) rows.reverse();
    const flows = rows.map((r) => ({ ...r, time: new Date(r.started_at).toISOString(), url: r.method && r.method !== 'CONNECT' && r.host ? urlOf(r) : null }));
    return c.json({ flows, next: rows.length === limit ? rows[rows.length - 1].id : null });
  });

  app.get('/api/flows/:id', async (c) => {
    params(c, []);
    const ref = c.req.param('id');
    const r = await opts.reader.flow(ref);
    if (!r) return fail(c, 404, 'not_found', `no flow ${ref}`);
    const findings = await opts.reader.findings(r.id);
    return c.json({ ...jsonlRecord(r, await opts.reader.bodies(r.id)), url: r.method && r.method !== 'CONNECT' && r.host ? urlOf(r) : null, findings });
  });

  app.get('/api/stats', async (c) => {
    const q = params(c, STATS_PARAMS);
    const f = filterFrom({ since: '1h', ...q });
    return c.json(await opts.reader.stats(f));
  });

  app.get('/api/instances', async (c) => {
    params(c, []);
    return c.json({ instances: (await opts.reader.instances()).map((i) => ({ ...i, first_seen: new Date(i.first_seen).toISOString(), last_seen: new Date(i.last_seen).toISOString() })) });
  });

  app.get('/api/export', (c) => {
    const q = params(c, EXPORT_PARAMS);
    const format = q.format ?? 'jsonl';
    if (format !== 'jsonl' && format !== 'har') throw new UsageError('format must be jsonl or har');
    const f = filterFrom(q);
    const limit = q.limit === undefined ? Infinity : positiveInt(q.limit, 'limit', 1);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    c.header('content-type', format === 'har' ? 'application/json; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
    c.header('content-disposition', `attachment; filename="airlock-flows-${stamp}.${format}"`);
    return c.body(exportStream(opts.reader, f, format, limit));
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
  const f = filterOf(o, '');
  if (q.instance !== undefined) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(q.instance)) throw new UsageError('instance must be an instance name (letters, digits, ".", "_", "-", ":")');
    f.instance = q.instance;
  }
  return f;
}

/** Every matching flow, oldest first, read EXPORT_CHUNK rows at a time as the client takes them. */
export function exportStream(reader: FlowReader, f: FlowFilter, format: 'jsonl' | 'har', limit: number): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let cursor = f.after ?? 0;
  let left = limit;
  let count = 0;
  let started = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let out = '';
      if (!started) {
        started = true;
        if (format === 'har') out += HAR_HEAD;
      }
      const rows: FlowRow[] = left > 0 ? await reader.rows(f, { after: cursor, order: 'ASC', limit: Math.min(EXPORT_CHUNK, left) }) : [];
      for (const r of rows) {
        cursor = r.id;
        left--;
        if (format === 'jsonl') out += JSON.stringify(jsonlRecord(r, await reader.bodies(r.id))) + '\n';
        else if (r.method && r.host) out += (count++ ? ',' : '') + JSON.stringify(harEntry(r, await reader.bodies(r.id)));
        // HAR: a refused connection (bad TLS, garbage) has no HTTP request to describe.
      }
      const done = rows.length < EXPORT_CHUNK || left <= 0;
      if (done && format === 'har') out += HAR_TAIL;
      if (out) controller.enqueue(enc.encode(out));
      if (done) controller.close();
    },
  });
}
