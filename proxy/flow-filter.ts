// Flow filters from untrusted text (`airlock flows` options, the API's and the UI's query
// parameters): every value is validated, never guessed. A value that is not what its field takes
// is a UsageError naming the field (exit 2 in the CLI, 400 in the API and the UI).
import { ExprError, exprSql, parseExpr } from './store/expr.ts';
import type { FlowFilter } from './store/search.ts';

/** Bad input from the user (an option, a query parameter): exit 2 in the CLI, 400 in the API. */
export class UsageError extends Error {}

export const DECISIONS = ['allow', 'would_deny', 'deny', 'refuse', 'error'];
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Text filters are a few words, not a payload. */
const MAX_TEXT = 500;

// 2025-01-31, 2025-01-31T12:00, 2025-01-31T12:00:00, with .fraction and Z or ±hh:mm (a space may stand for T).
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * An ISO 8601 time (a date, or a date and time; without a zone, the local time) or a relative
 * time back from now (30s, 15m, 1h, 2d, 1w), as milliseconds since the epoch. Anything else is
 * refused: no lenient Date parsing (which reads "junk 2001" as 2001-01-01).
 */
export function parseTime(text: string, field: string, now = Date.now()): number {
  const t = text.trim();
  const rel = /^(\d{1,9})\s*([smhdw])$/.exec(t);
  if (rel) return now - Number(rel[1]) * UNITS[rel[2]];
  const m = ISO.exec(t);
  const bad = () => new UsageError(`${field}: ${JSON.stringify(text)} is not an ISO time (2025-01-31 or 2025-01-31T12:00:00Z) or a relative time (30s, 15m, 1h, 2d, 1w)`);
  if (!m) throw bad();
  const [, y, mo, d, h = '0', mi = '0', s = '0', zone] = m;
  // Every field in range, and the date real (Date would turn February 30 into March 2).
  const probe = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (probe.getUTCMonth() !== Number(mo) - 1 || probe.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) throw bad();
  if (zone && !/^(?:z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)$/i.test(zone)) throw bad();
  const ms = Date.parse(t.replace(' ', 'T'));
  if (Number.isNaN(ms)) throw bad();
  return ms;
}

/** A whole number of at least `min` (and at most `max`), written in decimal digits only. */
export function positiveInt(text: string, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!/^\d{1,16}$/.test(text) || n < min || n > max) {
    throw new UsageError(`${name} must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}`);
  }
  return n;
}

/** The filter options of `flows list|export` (also the query parameters of the web UI and its API). */
export interface FilterOptions {
  host?: string;
  decision?: string;
  method?: string;
  status?: string;
  since?: string;
  until?: string;
  rule?: string;
  agent?: string;
  path?: string;
  'has-finding'?: boolean;
  text?: string;
  after?: string;
  /** A boolean expression (proxy/store/expr.ts): `q` in the UI and API, `--where` in the CLI. */
  q?: string;
  where?: string;
}

/**
 * The filter the options describe (validated; every value ends up bound, see store/search.ts).
 * `flag` prefixes option names in error messages: "--" for the CLI, "" for query parameters.
 */
export function filterOf(v: FilterOptions, flag = '--'): FlowFilter {
  const f: FlowFilter = {};
  for (const k of ['host', 'method', 'rule', 'agent', 'path', 'text'] as const) {
    const value = v[k];
    if (value !== undefined && value.length > MAX_TEXT) throw new UsageError(`${flag}${k} must be at most ${MAX_TEXT} characters`);
  }
  if (v.host !== undefined) f.host = v.host;
  if (v.decision !== undefined) {
    if (!DECISIONS.includes(v.decision)) throw new UsageError(`${flag}decision must be one of ${DECISIONS.join(', ')}`);
    f.decision = v.decision;
  }
  if (v.method !== undefined) {
    // A method is a token (RFC 9110 5.6.2); compared upper-cased.
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}$/.test(v.method)) throw new UsageError(`${flag}method must be an HTTP method such as GET or POST`);
    f.method = v.method;
  }
  if (v.status !== undefined) {
    const cls = /^([1-5])xx$/i.exec(v.status);
    if (cls) f.statusClass = Number(cls[1]);
    else if (/^\d{3}$/.test(v.status) && Number(v.status) >= 100 && Number(v.status) <= 599) f.status = Number(v.status);
    else throw new UsageError(`${flag}status must be a status code from 100 to 599 (404) or a class (4xx)`);
  }
  if (v.since !== undefined) f.since = parseTime(v.since, `${flag}since`);
  if (v.until !== undefined) f.until = parseTime(v.until, `${flag}until`);
  if (v.rule !== undefined) f.rule = v.rule;
  if (v.agent !== undefined) f.agent = v.agent;
  if (v.path !== undefined) f.pathPrefix = v.path;
  if (v['has-finding']) f.hasFinding = true;
  if (v.text !== undefined) f.text = v.text;
  const expr = v.q ?? v.where;
  if (expr !== undefined) {
    const name = v.q !== undefined ? `${flag}q` : `${flag}where`;
    if (expr.length > MAX_TEXT) throw new UsageError(`${name} must be at most ${MAX_TEXT} characters`);
    try {
      exprSql(parseExpr(expr)); // values are checked when compiled
    } catch (e) {
      if (e instanceof ExprError) throw new UsageError(`${name}: ${e.message}`);
      throw e;
    }
    f.expr = expr;
  }
  if (v.after !== undefined) f.after = positiveInt(v.after, `${flag}after`, 0);
  return f;
}
