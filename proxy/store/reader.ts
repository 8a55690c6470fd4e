// What the readers of the audit trail (`airlock flows`, the JSON API, the web UI) ask of a flow
// store, whichever it is: the embedded SQLite file (sqlite-reader.ts) or PostgreSQL
// (pg/reader.ts). The composition root (main.ts, or `airlock ui`/`airlock flows` on their own)
// picks one from the policy's store section (open-reader.ts); nothing above this line knows which.
import type { BodyRow } from './bodies.ts';
import type { FlowFilter } from './search.ts';
import type { VerifyResult } from './verify.ts';

export type { BodyRow } from './bodies.ts';
export type { VerifyResult } from './verify.ts';
import type { LlmReader } from './llm-queries.ts';
import type { FlowFacts } from '../../policies/replay.ts';

export const DECISIONS = ['allow', 'would_deny', 'deny', 'refuse', 'error'];

/** A flows row as stored (both stores). */
export interface FlowRow {
  id: number;
  flow_id: string;
  started_at: number;
  entry: string;
  listener: string;
  client: string;
  agent_user: string | null;
  method: string | null;
  scheme: string | null;
  host: string | null;
  port: number | null;
  path: string | null;
  query: string | null;
  protocol: string;
  status: number | null;
  decision: string;
  rule_id: string | null;
  code: string | null;
  reason: string | null;
  error: string | null;
  injected: string | null;
  bytes_up: number;
  bytes_down: number;
  ttfb_ms: number | null;
  total_ms: number | null;
  request_headers: string | null;
  response_headers: string | null;
  hash: string | null;
  prev_hash: string | null;
  llm_provider: string | null;
  llm_model: string | null;
  llm_input_tokens: number | null;
  llm_output_tokens: number | null;
  llm_stop_reason: string | null;
  llm_tools: string | null;
  /** The airlock instance that handled the flow (null: written before schema 8). */
  instance: string | null;
}

/** A row of a list of flows: no headers or bodies, plus how many DLP findings the flow has. */
export type ListRow = Pick<
  FlowRow,
  | 'id'
  | 'flow_id'
  | 'started_at'
  | 'entry'
  | 'listener'
  | 'agent_user'
  | 'method'
  | 'scheme'
  | 'host'
  | 'port'
  | 'path'
  | 'query'
  | 'protocol'
  | 'status'
  | 'decision'
  | 'rule_id'
  | 'code'
  | 'bytes_up'
  | 'bytes_down'
  | 'ttfb_ms'
  | 'total_ms'
  | 'llm_provider'
  | 'llm_model'
  | 'instance'
> & { findings: number };

export interface Page {
  /** Newest first. */
  rows: ListRow[];
  /** Cursor for the next older page (`before`), or null at the oldest match. */
  older: number | null;
  /** Cursor for the next newer page (`after`), or null when this page holds the newest match. */
  newer: number | null;
}

/** A walk over matching flows in id order. */
export interface Walk {
  /** Only ids above / below these (a filter's own `after` counts as `after` too). */
  after?: number;
  before?: number;
  order: 'ASC' | 'DESC';
  limit: number;
}

export interface Finding {
  id: number;
  flow_id: number;
  rule_id: string;
  location: string;
  action: string;
  preview: string | null;
}

export interface HostRow {
  host: string;
  n: number;
  allow: number;
  /** Let through by report mode although the policy would deny them. */
  would_deny: number;
  deny: number;
  refuse: number;
  error: number;
  up: number;
  down: number;
  last: number;
}

export interface FindingRuleRow {
  rule_id: string;
  n: number;
  flows: number;
  actions: string;
  last: number;
}

export interface FindingListRow extends Finding {
  started_at: number;
  method: string | null;
  host: string | null;
  path: string | null;
  decision: string;
}

export interface FindingsOverview {
  rules: FindingRuleRow[];
  list: FindingListRow[];
  older: number | null;
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

/** An airlock instance that wrote to the store: its chain's head and when it was first and last seen. */
export interface InstanceRow {
  name: string;
  head_id: number;
  first_seen: number;
  last_seen: number;
}

/** Upper bounds (ms) of the latency histogram's bins; the last bin is everything slower. */
export const LATENCY_BINS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000];

/** How many of the top hosts and rules the stats name. */
export const TOP_N = 10;

export interface FlowReader {
  readonly kind: 'sqlite' | 'postgres';
  /** Matching flows in id order from a cursor (list rows), reading only what the walk needs. */
  list(f: FlowFilter, w: Walk): Promise<ListRow[]>;
  /** The same walk, whole rows (headers included): exports. */
  rows(f: FlowFilter, w: Walk): Promise<FlowRow[]>;
  /**
   * One page of the flows table, newest first. No cursor: the newest `limit` matches. `before`:
   * the `limit` matches just older than that id. `after`: the `limit` matches just newer.
   */
  page(f: FlowFilter, cursor: { before?: number; after?: number }, limit: number): Promise<Page>;
  /** The largest flow id (0 for an empty store). */
  maxId(): Promise<number>;
  /** A flow by id (digits) or flow_id. */
  flow(ref: string): Promise<FlowRow | undefined>;
  /** A flow's stored bodies, put back together from their chunks. */
  bodies(id: number): Promise<BodyRow[]>;
  findings(id: number): Promise<Finding[]>;
  /** The neighbours of a flow in the whole store (for "older" / "newer" on the detail page). */
  neighbours(id: number): Promise<{ older: number | null; newer: number | null }>;
  /** Per host: flows by decision, bytes, last seen; busiest first. */
  hosts(f: FlowFilter, limit?: number): Promise<HostRow[]>;
  /** DLP findings of the flows the filter matches: per rule, and the newest ones (cursor `before` on findings.id). */
  findingsOverview(f: FlowFilter, opts: { rule?: string; before?: number; limit: number }): Promise<FindingsOverview>;
  /** How many timed flows fall in each LATENCY_BINS bin (length LATENCY_BINS.length + 1). */
  latency(f: FlowFilter): Promise<number[]>;
  /** The oldest matching flow's start (for "all time" stats windows). */
  firstStart(f: FlowFilter): Promise<number | null>;
  /** Totals, top hosts and rules, percentiles, and counts and bytes per bucket (`bucketMs`). */
  stats(f: FlowFilter, bucketMs?: number): Promise<Stats>;
  /** The instances that wrote to the store, by name. */
  instances(): Promise<InstanceRow[]>;
  /** Bytes the store uses (null when that cannot be told). */
  size(): Promise<number | null>;
  /** Recomputes every hash chain and checks every chunk (verify.ts); `onProgress`: flows checked so far, now and then. */
  verify(onProgress?: (checked: number) => void): Promise<VerifyResult>;
  /** Every flow the filter matches as policy replay and suggest read it, oldest first (SQLite: in one read transaction). */
  eachFact(f: FlowFilter, fn: (row: FlowFacts) => void): Promise<void>;
  /** Sessions, MCP calls and agents (llm-queries.ts). */
  readonly llm: LlmReader;
  /** Drops the connection; the next read opens one anew (SQLite: after the store file was deleted and made again). */
  reset?(): void;
  close(): Promise<void>;
}

/** A page of the flows table (FlowReader.page) from one store's walks: each one walk of an index in id order. */
export async function pageOf(list: FlowReader['list'], f: FlowFilter, cursor: { before?: number; after?: number }, limit: number): Promise<Page> {
  const any = async (w: { after?: number; before?: number }) => (await list(f, { ...w, order: 'ASC', limit: 1 })).length > 0;
  if (cursor.after !== undefined) {
    const rows = await list(f, { after: cursor.after, order: 'ASC', limit: limit + 1 });
    const more = rows.length > limit;
    const page = rows.slice(0, limit).reverse();
    const oldest = page.length ? page[page.length - 1].id : null;
    return { rows: page, newer: more ? page[0].id : null, older: oldest !== null && (await any({ before: oldest })) ? oldest : null };
  }
  const rows = await list(f, { before: cursor.before, order: 'DESC', limit: limit + 1 });
  const page = rows.slice(0, limit);
  return {
    rows: page,
    older: rows.length > limit ? page[page.length - 1].id : null,
    newer: cursor.before !== undefined && page.length && (await any({ after: page[0].id })) ? page[0].id : null,
  };
}

/** The Stats both stores answer, from their query results. */
export function statsOf(
  f: FlowFilter,
  perMinute: { minute: number; decision: string; n: number; up: number; down: number }[],
  totals: { n: number; up: number; down: number },
  hosts: { host: string; count: number }[],
  rules: { rule: string; count: number }[],
  latency: Stats['latency_ms'],
): Stats {
  const decisions: Record<string, number> = Object.fromEntries(DECISIONS.map((d) => [d, 0]));
  const minutes = new Map<number, { counts: Record<string, number>; bytes: { up: number; down: number } }>();
  for (const { minute, decision, n, up, down } of perMinute) {
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
    total: totals.n,
    decisions,
    per_minute: [...minutes].map(([minute, m]) => ({ minute: new Date(minute).toISOString(), ...m })),
    bytes: { up: totals.up, down: totals.down },
    top_hosts: hosts,
    top_rules: rules,
    latency_ms: latency,
  };
}
