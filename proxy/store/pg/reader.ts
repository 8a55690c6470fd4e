// The readers' view of the PostgreSQL store (reader.ts): a small pool, the same answers as the
// SQLite store's (sqlite-queries.ts) from PostgreSQL's own SQL. Flow ids grow in commit order
// (pg/batch.cjs), so a walk in id order (pages, the live view's "newer than N") never skips a flow
// another instance commits later. The schema must be this airlock's (an instance migrates it).
import type pg from 'pg';
import { type BodyRow, decodeIds, unpack } from '../bodies.ts';
import {
  type FindingListRow,
  type FindingRuleRow,
  type Finding,
  type FlowReader,
  type FlowRow,
  type HostRow,
  type InstanceRow,
  LATENCY_BINS,
  type ListRow,
  pageOf,
  type Stats,
  statsOf,
  TOP_N,
  type Walk,
} from '../reader.ts';
import { REQUEST_FINDING, STORED_COLUMNS } from '../rows.ts';
import type { FlowFilter } from '../search.ts';
import { createPool, pgSchemaVersion, schemaVersion } from './modules.ts';
import { Params, pgConditions, pgWhere } from './search.ts';
import { inSnapshot, verifyPg } from './verify.ts';
import type { FlowFacts } from '../../../policies/replay.ts';
import { llmReader, numbered } from '../llm-queries.ts';

const LIST_COLUMNS =
  'flows.id AS id, flow_id, started_at, entry, listener, agent_user, method, scheme, host, port, path, query, protocol, status, decision, rule_id, code, ' +
  'bytes_up, bytes_down, ttfb_ms, total_ms, llm_provider, llm_model, instance, (SELECT count(*) FROM findings WHERE findings.flow_id = flows.id)::int AS findings';
/** What policy replay and suggest read of a flow (sqlite-queries.ts FACT_COLUMNS). */
const FACT_COLUMNS =
  'flows.id AS id, started_at, method, scheme, host, port, path, protocol, decision, code, rule_id, agent_user, listener, ' +
  `(SELECT string_agg(rule_id, ',') FROM findings WHERE findings.flow_id = flows.id AND (${REQUEST_FINDING})) AS finding_rules, ` +
  `(SELECT string_agg(rule_id, ',') FROM findings WHERE findings.flow_id = flows.id AND location LIKE 'response body%') AS response_finding_rules`;
const FACT_CHUNK = 1000;
/** Every stored column but the full-text document. */
const ROW_COLUMNS = `flows.id AS id, ${STORED_COLUMNS.join(', ')}, hash, prev_hash, instance`;

export interface PgReaderOptions {
  url: string;
  schema: string;
  /** Connections this reader may hold. */
  max?: number;
}

export function pgReader(opts: PgReaderOptions): FlowReader {
  const pool = createPool({ url: opts.url, schema: opts.schema, max: opts.max ?? 4, name: 'airlock reader', statementTimeoutMs: 60_000 });
  let checked: Promise<void> | undefined;
  const ready = () =>
    (checked ??= schemaVersion(pool, opts.schema).then(
      (v) => {
        const SCHEMA_VERSION = pgSchemaVersion();
        if (v === SCHEMA_VERSION) return;
        checked = undefined;
        if (v > SCHEMA_VERSION) throw new Error(`the PostgreSQL flow store has schema version ${v}, newer than this airlock (${SCHEMA_VERSION})`);
        throw new Error(
          v === 0
            ? `no flow store in PostgreSQL schema "${opts.schema}" yet: an airlock instance creates it when it starts`
            : `the PostgreSQL flow store has schema version ${v}; start an airlock of this version once to upgrade it to ${SCHEMA_VERSION}`,
        );
      },
      (err) => {
        checked = undefined;
        throw err;
      },
    ));
  const q = async <T,>(sql: string, values: unknown[] = []): Promise<T[]> => {
    await ready();
    return (await pool.query(sql, values)).rows as T[];
  };
  /** Several reads that must agree: one snapshot. */
  const snapshot = async <T,>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    await ready();
    return inSnapshot(pool, fn);
  };

  const walk = <T,>(columns: string, f: FlowFilter, w: Walk): Promise<T[]> => {
    const p = new Params();
    const conds = [pgConditions(f, p)];
    const after = f.after !== undefined && w.after !== undefined ? Math.max(f.after, w.after) : (w.after ?? f.after);
    if (after !== undefined) conds.push(`id > ${p.add(after)}`);
    if (w.before !== undefined) conds.push(`id < ${p.add(w.before)}`);
    const where = conds.filter((c) => c !== '');
    return q<T>(`SELECT ${columns} FROM flows ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id ${w.order} LIMIT ${p.add(w.limit)}`, p.values);
  };
  const list = (f: FlowFilter, w: Walk) => walk<ListRow>(LIST_COLUMNS, f, w);
  const where = (f: FlowFilter, p: Params, ...extra: string[]) => pgWhere({ ...f, after: undefined }, p, ...extra);

  return {
    kind: 'postgres',
    async eachFact(f, fn) {
      for (let after = f.after; ; ) {
        const rows = await walk<FlowFacts>(FACT_COLUMNS, f, { after, order: 'ASC', limit: FACT_CHUNK });
        for (const r of rows) fn(r);
        if (rows.length < FACT_CHUNK) return;
        after = rows[rows.length - 1].id;
      }
    },
    llm: llmReader({ dialect: 'postgres', all: <T,>(sql: string, params: unknown[]) => q<T>(numbered(sql), params) }),
    list,
    rows: (f, w) => walk<FlowRow>(ROW_COLUMNS, f, w),
    page: (f, cursor, limit) => pageOf(list, f, cursor, limit),
    async maxId() {
      return (await q<{ m: number }>('SELECT coalesce(max(id), 0) AS m FROM flows'))[0].m;
    },
    async flow(ref) {
      const byId = /^\d{1,15}$/.test(ref);
      return (await q<FlowRow>(`SELECT ${ROW_COLUMNS} FROM flows WHERE ${byId ? 'id' : 'flow_id'} = $1`, [byId ? Number(ref) : ref]))[0];
    },
    async bodies(id) {
      const rows = await q<BodyRow & { chunks: Buffer }>('SELECT direction, content_type, encoding, size, truncated, chunks FROM bodies WHERE flow_id = $1 ORDER BY direction', [id]);
      const ids = [...new Set(rows.flatMap((r) => decodeIds(r.chunks)))];
      const chunks = new Map<number, Buffer>();
      if (ids.length) for (const c of await q<{ id: number; data: Buffer; deflated: number }>('SELECT id, data, deflated FROM chunks WHERE id = ANY($1::bigint[])', [ids])) chunks.set(c.id, unpack(c.data, c.deflated));
      // A chunk missing from the store (changed behind airlock's back) leaves the body incomplete; verify names it.
      return rows.map(({ chunks: list, ...b }) => ({ ...b, data: Buffer.concat(decodeIds(list).flatMap((c) => (chunks.has(c) ? [chunks.get(c)!] : []))) }));
    },
    findings: (id) => q<Finding>('SELECT id, flow_id, rule_id, location, action, preview FROM findings WHERE flow_id = $1 ORDER BY id', [id]),
    async neighbours(id) {
      const r = await q<{ older: number | null; newer: number | null }>('SELECT (SELECT max(id) FROM flows WHERE id < $1) AS older, (SELECT min(id) FROM flows WHERE id > $1) AS newer', [id]);
      return r[0];
    },
    hosts(f, limit = 500) {
      const p = new Params();
      return q<HostRow>(
        `SELECT host, count(*)::int AS n, count(*) FILTER (WHERE decision = 'allow')::int AS allow, count(*) FILTER (WHERE decision = 'would_deny')::int AS would_deny, count(*) FILTER (WHERE decision = 'deny')::int AS deny,
                count(*) FILTER (WHERE decision = 'refuse')::int AS refuse, count(*) FILTER (WHERE decision = 'error')::int AS error,
                coalesce(sum(bytes_up), 0) AS up, coalesce(sum(bytes_down), 0) AS down, max(started_at) AS last
           FROM flows ${where(f, p, 'host IS NOT NULL')} GROUP BY host ORDER BY n DESC, host LIMIT ${p.add(limit)}`,
        p.values,
      );
    },
    async findingsOverview(f, opts) {
      const p = new Params();
      // The flow filter runs inside a subquery, where its column names (id, rule_id) mean flows' own.
      const from = `findings g JOIN (SELECT id AS fid, started_at, method, host, path, decision FROM flows ${where({ ...f, hasFinding: undefined }, p)}) AS fl ON fl.fid = g.flow_id`;
      const rules = await q<FindingRuleRow>(
        `SELECT g.rule_id AS rule_id, count(*)::int AS n, count(DISTINCT g.flow_id)::int AS flows, string_agg(DISTINCT g.action, ',') AS actions, max(fl.started_at) AS last
           FROM ${from} GROUP BY g.rule_id ORDER BY n DESC, g.rule_id`,
        p.values,
      );
      const p2 = new Params();
      const from2 = `findings g JOIN (SELECT id AS fid, started_at, method, host, path, decision FROM flows ${where({ ...f, hasFinding: undefined }, p2)}) AS fl ON fl.fid = g.flow_id`;
      const extra: string[] = [];
      if (opts.rule !== undefined) extra.push(`g.rule_id = ${p2.add(opts.rule)}`);
      if (opts.before !== undefined) extra.push(`g.id < ${p2.add(opts.before)}`);
      const list = await q<FindingListRow>(
        `SELECT g.id, g.flow_id, g.rule_id, g.location, g.action, g.preview, fl.started_at, fl.method, fl.host, fl.path, fl.decision
           FROM ${from2} ${extra.length ? `WHERE ${extra.join(' AND ')}` : ''} ORDER BY g.id DESC LIMIT ${p2.add(opts.limit + 1)}`,
        p2.values,
      );
      const page = list.slice(0, opts.limit);
      return { rules, list: page, older: list.length > opts.limit ? page[page.length - 1].id : null };
    },
    async latency(f) {
      const p = new Params();
      const cases = LATENCY_BINS.map((b, i) => `WHEN total_ms < ${b} THEN ${i}`).join(' ');
      const rows = await q<{ bin: number; n: number }>(
        `SELECT CASE ${cases} ELSE ${LATENCY_BINS.length} END AS bin, count(*)::int AS n FROM flows ${where(f, p, 'total_ms IS NOT NULL')} GROUP BY 1`,
        p.values,
      );
      const out = new Array<number>(LATENCY_BINS.length + 1).fill(0);
      for (const r of rows) out[r.bin] = r.n;
      return out;
    },
    async firstStart(f) {
      const p = new Params();
      return (await q<{ t: number | null }>(`SELECT min(started_at) AS t FROM flows ${where(f, p)}`, p.values))[0].t;
    },
    stats(f, bucketMs = 60_000): Promise<Stats> {
      return snapshot(async (c) => {
        const run = async <T,>(build: (p: Params) => string): Promise<T[]> => {
          const p = new Params();
          const sql = build(p);
          return (await c.query(sql, p.values)).rows as T[];
        };
        const perMinute = await run<{ minute: number; decision: string; n: number; up: number; down: number }>(
          (p) =>
            `SELECT (started_at / ${p.add(bucketMs)}::bigint) * ${p.add(bucketMs)}::bigint AS minute, decision, count(*)::int AS n, coalesce(sum(bytes_up), 0) AS up, coalesce(sum(bytes_down), 0) AS down
               FROM flows ${where(f, p)} GROUP BY 1, 2 ORDER BY 1`,
        );
        const totals = (await run<{ n: number; up: number; down: number }>((p) => `SELECT count(*)::int AS n, coalesce(sum(bytes_up), 0) AS up, coalesce(sum(bytes_down), 0) AS down FROM flows ${where(f, p)}`))[0];
        const hosts = await run<{ host: string; count: number }>(
          (p) => `SELECT host, count(*)::int AS count FROM flows ${where(f, p, 'host IS NOT NULL')} GROUP BY host ORDER BY count DESC, host LIMIT ${TOP_N}`,
        );
        const rules = await run<{ rule: string; count: number }>(
          (p) => `SELECT rule_id AS rule, count(*)::int AS count FROM flows ${where(f, p, 'rule_id IS NOT NULL')} GROUP BY rule_id ORDER BY count DESC, rule_id LIMIT ${TOP_N}`,
        );
        // Nearest-rank percentiles: percentile_disc is the smallest value with at least p of the values at or below it.
        const lat = (
          await run<{ count: number; p50: number | null; p90: number | null; p99: number | null }>(
            (p) =>
              `SELECT count(*)::int AS count, percentile_disc(0.5) WITHIN GROUP (ORDER BY total_ms) AS p50, percentile_disc(0.9) WITHIN GROUP (ORDER BY total_ms) AS p90,
                      percentile_disc(0.99) WITHIN GROUP (ORDER BY total_ms) AS p99 FROM flows ${where(f, p, 'total_ms IS NOT NULL')}`,
          )
        )[0];
        return statsOf(f, perMinute, totals, hosts, rules, lat);
      });
    },
    instances: () => q<InstanceRow>('SELECT name, head_id, first_seen, last_seen FROM instances ORDER BY name'),
    async size() {
      const r = await q<{ b: number | null }>(
        "SELECT sum(pg_total_relation_size(c.oid)) AS b FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
        [opts.schema],
      );
      return r[0].b;
    },
    async verify() {
      await ready();
      return verifyPg(pool);
    },
    close: () => pool.end(),
  };
}
