// The readers' queries over a SQLite store (sqlite-reader.ts). Filters are search.ts's (every
// value bound); the only SQL spliced here is constants and the WHERE clause whereClause() builds
// from placeholders.
import type Database from 'better-sqlite3';
import {
  type FindingListRow,
  type FindingRuleRow,
  type Finding,
  type FlowRow,
  type HostRow,
  LATENCY_BINS,
  type ListRow,
  type Page,
  type Stats,
  statsOf,
  TOP_N,
  type Walk,
} from './reader.ts';
import { type FlowFilter, ftsMatch, whereClause } from './search.ts';
import type { FlowFacts } from '../../policies/replay.ts';
import { REQUEST_FINDING } from './rows.ts';

/** The columns of a list row: no headers or bodies, plus the flow's count of DLP findings. Constants, spliced as SQL. */
export const LIST_COLUMNS =
  'flows.id AS id, flow_id, started_at, entry, listener, agent_user, method, scheme, host, port, path, query, protocol, status, decision, rule_id, code, ' +
  'bytes_up, bytes_down, ttfb_ms, total_ms, llm_provider, llm_model, instance, (SELECT count(*) FROM findings WHERE findings.flow_id = flows.id) AS findings';

function where(f: FlowFilter, extra?: string): { sql: string; params: unknown[] } {
  const { where, params } = whereClause({ ...f, after: undefined });
  if (!extra) return { sql: where, params };
  return { sql: where ? `${where} AND ${extra}` : `WHERE ${extra}`, params };
}

export interface SqlWalk extends Walk {
  /** Spliced as given (callers pass constants); qualify with `flows.` where a name could be ambiguous. */
  columns: string;
}

/**
 * Matching flows in id order from a cursor, reading only what the page needs. With full-text
 * search the FTS index usually drives: its rowids (= flow ids) are walked in order and each is
 * looked up in flows, so a word found in every flow still stops after `limit` rows (store/search.ts's
 * `id IN (SELECT rowid ...)` reads every match first: bench/ui-flows.ts, 170 ms -> 0.1 ms at
 * 1,000,000 flows). When an exact host or a decision leaves few flows, those drive instead.
 * Without text the (host, id), (decision, id) or rowid order serves the same walk.
 */
export function selectFlows<T>(db: Database.Database, f: FlowFilter, w: SqlWalk): T[] {
  const after = f.after !== undefined && w.after !== undefined ? Math.max(f.after, w.after) : (w.after ?? f.after);
  const rest = whereClause({ ...f, text: undefined, after: undefined });
  const conds: string[] = [];
  const params: unknown[] = [];
  let from = 'flows';
  let key = 'id';
  if (f.text !== undefined) {
    const match = ftsMatch(f.text);
    if (match === null) return [];
    if (fewCandidates(db, f)) {
      // The host or decision index names few flows: walk those and ask the FTS index about each
      // (a seek per flow, about 12 us), instead of walking every flow the word occurs in.
      conds.push('EXISTS (SELECT 1 FROM flows_fts WHERE flows_fts MATCH ? AND flows_fts.rowid = flows.id)');
    } else {
      from = 'flows_fts JOIN flows ON flows.id = flows_fts.rowid';
      key = 'flows_fts.rowid';
      conds.push('flows_fts MATCH ?');
    }
    params.push(match);
  }
  if (after !== undefined) conds.push(`${key} > ?`), params.push(after);
  if (w.before !== undefined) conds.push(`${key} < ?`), params.push(w.before);
  if (rest.where) conds.push(rest.where.slice('WHERE '.length)), params.push(...rest.params);
  const sql = `SELECT ${w.columns} FROM ${from} ${conds.length ? `WHERE ${conds.join(' AND ')}` : ''} ORDER BY ${key} ${w.order} LIMIT ?`;
  return db.prepare(sql).all(...params, w.limit) as T[];
}

/** Flows the host or decision index alone narrows to at most this many count as few. */
const FEW = 5000;

/** Whether an exact host and/or a decision (both indexed) leave fewer than FEW flows: counted by the index, stopping at FEW. */
function fewCandidates(db: Database.Database, f: FlowFilter): boolean {
  const exactHost = f.host !== undefined && !/[*?[]/.test(f.host) ? f.host : undefined;
  if (exactHost === undefined && f.decision === undefined) return false;
  const { where, params } = whereClause({ host: exactHost, decision: f.decision });
  return (db.prepare(`SELECT count(*) AS n FROM (SELECT 1 FROM flows ${where} LIMIT ?)`).get(...params, FEW) as { n: number }).n < FEW;
}

/** The largest flow id (0 for an empty store). */
export function maxId(db: Database.Database): number {
  return (db.prepare('SELECT coalesce(max(id), 0) AS m FROM flows').get() as { m: number }).m;
}

export function flowByRef(db: Database.Database, ref: string): FlowRow | undefined {
  if (/^\d{1,15}$/.test(ref)) return db.prepare('SELECT * FROM flows WHERE id = ?').get(Number(ref)) as FlowRow | undefined;
  return db.prepare('SELECT * FROM flows WHERE flow_id = ?').get(ref) as FlowRow | undefined;
}

/** The neighbours of a flow in the whole store (for "older" / "newer" on the detail page). */
export function neighbours(db: Database.Database, id: number): { older: number | null; newer: number | null } {
  const older = db.prepare('SELECT max(id) AS v FROM flows WHERE id < ?').get(id) as { v: number | null };
  const newer = db.prepare('SELECT min(id) AS v FROM flows WHERE id > ?').get(id) as { v: number | null };
  return { older: older.v, newer: newer.v };
}

export function findingsOf(db: Database.Database, flowId: number): Finding[] {
  return db.prepare('SELECT id, flow_id, rule_id, location, action, preview FROM findings WHERE flow_id = ? ORDER BY id').all(flowId) as Finding[];
}

/** Per host: flows by decision, bytes, last seen; busiest first. */
export function hostsOverview(db: Database.Database, f: FlowFilter, limit = 500): HostRow[] {
  // "+host": grouping by the plain column makes SQLite walk the whole (host, id) index to skip a
  // sort, whatever the time window (bench/ui-flows.ts: 3.4 s over 1,000,000 flows); this way it
  // reads only the window through flows_started_at and sorts what it found (25 ms for 24 hours).
  const w = where(f, '+host IS NOT NULL');
  return db
    .prepare(
      `SELECT host, count(*) AS n, sum(decision = 'allow') AS allow, sum(decision = 'would_deny') AS would_deny, sum(decision = 'deny') AS deny, sum(decision = 'refuse') AS refuse,
              sum(decision = 'error') AS error, sum(bytes_up) AS up, sum(bytes_down) AS down, max(started_at) AS last
         FROM flows ${w.sql} GROUP BY +host ORDER BY n DESC, host LIMIT ?`,
    )
    .all(...w.params, limit) as HostRow[];
}

/** DLP findings of the flows the filter matches: per rule, and the newest ones (cursor `before` on findings.id). */
export function findingsOverview(
  db: Database.Database,
  f: FlowFilter,
  opts: { rule?: string; before?: number; limit: number },
): { rules: FindingRuleRow[]; list: FindingListRow[]; older: number | null } {
  const { where: fw, params } = whereClause({ ...f, after: undefined, hasFinding: undefined });
  // The flow filter runs inside a subquery, where its column names (id, rule_id) mean flows' own.
  const from = `findings g JOIN (SELECT id AS fid, started_at, method, host, path, decision FROM flows ${fw}) AS fl ON fl.fid = g.flow_id`;
  const rules = db
    .prepare(
      `SELECT g.rule_id AS rule_id, count(*) AS n, count(DISTINCT g.flow_id) AS flows, group_concat(DISTINCT g.action) AS actions, max(fl.started_at) AS last
         FROM ${from} GROUP BY g.rule_id ORDER BY n DESC, g.rule_id`,
    )
    .all(...params) as FindingRuleRow[];
  const extra: string[] = [];
  const extraParams: unknown[] = [];
  if (opts.rule !== undefined) extra.push('g.rule_id = ?'), extraParams.push(opts.rule);
  if (opts.before !== undefined) extra.push('g.id < ?'), extraParams.push(opts.before);
  const list = db
    .prepare(
      `SELECT g.id, g.flow_id, g.rule_id, g.location, g.action, g.preview, fl.started_at, fl.method, fl.host, fl.path, fl.decision
         FROM ${from} ${extra.length ? `WHERE ${extra.join(' AND ')}` : ''} ORDER BY g.id DESC LIMIT ?`,
    )
    .all(...params, ...extraParams, opts.limit + 1) as FindingListRow[];
  const page = list.slice(0, opts.limit);
  return { rules, list: page, older: list.length > opts.limit ? page[page.length - 1].id : null };
}

/** How many timed flows fall in each LATENCY_BINS bin (length LATENCY_BINS.length + 1). */
export function latencyHistogram(db: Database.Database, f: FlowFilter): number[] {
  const w = where(f, 'total_ms IS NOT NULL');
  const cases = LATENCY_BINS.map((b, i) => `WHEN total_ms < ${b} THEN ${i}`).join(' ');
  const rows = db.prepare(`SELECT CASE ${cases} ELSE ${LATENCY_BINS.length} END AS bin, count(*) AS n FROM flows ${w.sql} GROUP BY bin`).all(...w.params) as {
    bin: number;
    n: number;
  }[];
  const out = new Array<number>(LATENCY_BINS.length + 1).fill(0);
  for (const r of rows) out[r.bin] = r.n;
  return out;
}

/** The oldest flow's start (for "all time" stats windows). */
export function firstStart(db: Database.Database, f: FlowFilter): number | null {
  const w = where(f);
  return (db.prepare(`SELECT min(started_at) AS t FROM flows ${w.sql}`).get(...w.params) as { t: number | null }).t;
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
      // "+host" keeps SQLite on the time window instead of walking the whole host index (hostsOverview).
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
  return statsOf(f, r.perMinute, r.totals, r.hosts, r.rules, { count: r.timed, p50: r.p50, p90: r.p90, p99: r.p99 });
}

/** The columns policies/replay.ts's FlowFacts reads: no headers, no bodies; the findings' rule ids. */
const FACT_COLUMNS =
  'flows.id AS id, started_at, method, scheme, host, port, path, protocol, decision, code, rule_id, agent_user, listener, ' +
  `(SELECT group_concat(rule_id) FROM findings WHERE findings.flow_id = flows.id AND (${REQUEST_FINDING})) AS finding_rules, ` +
  `(SELECT group_concat(rule_id) FROM findings WHERE findings.flow_id = flows.id AND location LIKE 'response body%') AS response_finding_rules`;
const FACT_CHUNK = 1000;

/** Every flow the filter matches, oldest first, read FACT_CHUNK at a time (policy replay and suggest). */
export function* flowFacts(db: Database.Database, f: FlowFilter): Generator<FlowFacts> {
  let after = f.after;
  for (;;) {
    const rows = selectFlows<FlowFacts>(db, f, { after, order: 'ASC', limit: FACT_CHUNK, columns: FACT_COLUMNS });
    yield* rows;
    if (rows.length < FACT_CHUNK) return;
    after = rows[rows.length - 1].id;
  }
}

/** How many flows the filter matches (for progress; not with full-text search, which may be slow to count). */
export function countMatching(db: Database.Database, f: FlowFilter): number | undefined {
  if (f.text !== undefined) return undefined;
  const w = where(f);
  return (db.prepare(`SELECT count(*) AS n FROM flows ${w.sql}`).get(...w.params) as { n: number }).n;
}
