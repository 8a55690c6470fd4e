// Finding flows: structured filters and full-text search (flows_fts, schema 3) as one WHERE clause.
// Every user-supplied value is a bound parameter. Full-text input never reaches SQLite as FTS5
// syntax: each word becomes an FTS5 string literal, so operators (OR, NEAR, *, col:, ^, quotes)
// are only text to look for.
import type Database from 'better-sqlite3';
import { exprSql, parseExpr } from './expr.ts';

export interface FlowFilter {
  /** Host name glob (`*`, `?`), matched against the lower-case host. */
  host?: string;
  decision?: string;
  method?: string;
  status?: number;
  /** 4 for 4xx. */
  statusClass?: number;
  /** started_at >= since (ms). */
  since?: number;
  /** started_at < until (ms). */
  until?: number;
  /** Cursor: flows with id > after. */
  after?: number;
  rule?: string;
  agent?: string;
  /** Path prefix, case-sensitive, taken literally (no wildcards). */
  pathPrefix?: string;
  hasFinding?: boolean;
  /** Words that must all occur in the URL, headers or text bodies. */
  text?: string;
  /** The airlock instance that handled the flow (store.instance). */
  instance?: string;
  /** A boolean filter expression (store/expr.ts), already checked by parseExpr. */
  expr?: string;
}

/**
 * The FTS5 MATCH expression for free text: every whitespace-separated word as a string literal
 * (double quotes doubled), joined by spaces (AND). Words without a letter or digit would yield
 * no token and are dropped. Null when nothing is left to look for: the search matches nothing.
 */
export function ftsMatch(text: string): string | null {
  const words = text
    .split(/[\s\p{Cc}]+/u) // a NUL would end the FTS5 query string early: control characters separate words
    .filter((w) => /[\p{L}\p{N}]/u.test(w))
    .map((w) => `"${w.replace(/"/g, '""')}"`);
  return words.length ? words.join(' ') : null;
}

/** `prefix*` as a GLOB pattern that takes the prefix literally. */
function globPrefix(prefix: string): string {
  return prefix.replace(/[*?[]/g, (c) => `[${c}]`) + '*';
}

/** WHERE clause (empty or starting with WHERE) over `flows` and its bound parameters. */
export function whereClause(f: FlowFilter): { where: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (clause: string, ...values: unknown[]) => {
    clauses.push(clause);
    params.push(...values);
  };
  // Without glob characters, equality: it can use the (host, id) index for newest-first pages.
  if (f.host !== undefined) add(/[*?[]/.test(f.host) ? 'host GLOB ?' : 'host = ?', f.host.toLowerCase());
  if (f.decision !== undefined) add('decision = ?', f.decision);
  if (f.method !== undefined) add('method = ?', f.method.toUpperCase());
  if (f.status !== undefined) add('status = ?', f.status);
  if (f.statusClass !== undefined) add('status BETWEEN ? AND ?', f.statusClass * 100, f.statusClass * 100 + 99);
  if (f.since !== undefined) add('started_at >= ?', f.since);
  if (f.until !== undefined) add('started_at < ?', f.until);
  if (f.rule !== undefined) add('rule_id = ?', f.rule);
  if (f.agent !== undefined) add('agent_user = ?', f.agent);
  if (f.instance !== undefined) add('instance = ?', f.instance);
  if (f.pathPrefix !== undefined) add('path GLOB ?', globPrefix(f.pathPrefix));
  if (f.hasFinding) add('EXISTS (SELECT 1 FROM findings WHERE findings.flow_id = flows.id)');
  if (f.text !== undefined) {
    const match = ftsMatch(f.text);
    if (match === null) clauses.push('0');
    else add('id IN (SELECT rowid FROM flows_fts WHERE flows_fts MATCH ?)', match);
  }
  if (f.expr !== undefined) {
    const e = exprSql(parseExpr(f.expr));
    add(e.sql, ...e.params);
  }
  if (f.after !== undefined) add('id > ?', f.after);
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
}

/**
 * One page of matching flows, oldest first: without a cursor the newest `limit` (like tail),
 * with `after` the next `limit` forward. `columns` is spliced as given: callers pass constants.
 */
export function searchFlows<T>(db: Database.Database, f: FlowFilter, limit: number, columns = '*'): T[] {
  const { where, params } = whereClause(f);
  const order = f.after === undefined ? 'DESC' : 'ASC';
  const rows = db.prepare(`SELECT ${columns} FROM flows ${where} ORDER BY id ${order} LIMIT ?`).all(...params, limit) as T[];
  if (order === 'DESC') rows.reverse();
  return rows;
}
