// Finding flows in PostgreSQL: the same filters as search.ts builds for SQLite, as one WHERE
// clause with $n placeholders (every user-supplied value bound). A host glob (*, ?, [...], as
// SQLite's GLOB) becomes an anchored regular expression; full-text words become phrase queries
// over the tsvector, each word tokenized as the writer tokenized the text (batch.cjs ftsWords),
// so PostgreSQL's query syntax (& | ! <-> :*) is only text to look for.
import type { FlowFilter } from '../search.ts';
import { ftsWords } from './modules.ts';
import { exprSql, parseExpr } from '../expr.ts';

/** Bound values, numbered as they are added. */
export class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

/** A GLOB pattern (*, ?, [class], [^class]) as an anchored POSIX regular expression. */
export function globRegex(glob: string): string {
  let out = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      // A class ends at the first "]" after its first character (which may itself be "]").
      const from = glob[i + 1] === '^' ? i + 2 : i + 1;
      const end = glob.indexOf(']', from + 1);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      const negate = glob[i + 1] === '^';
      const body = glob.slice(from, end).replace(/[\\]/g, '\\\\');
      out += `[${negate ? '^' : ''}${body}]`;
      i = end;
    } else out += /[.^$|?*+()[\]{}\\]/.test(c) ? `\\${c}` : c;
  }
  return `${out}$`;
}

/** The words of a full-text search as phrases to look for; null when no word is left (nothing matches). */
export function ftsPhrases(text: string): string[] | null {
  const words = text
    .split(/[\s\p{Cc}]+/u)
    .filter((w) => /[\p{L}\p{N}]/u.test(w))
    .map(ftsWords)
    .filter((w) => w !== '');
  return words.length ? words : null;
}

/** The conditions of a filter on `flows` (without its cursor), ANDed; '' when there are none. */
export function pgConditions(f: FlowFilter, p: Params): string {
  const c: string[] = [];
  if (f.host !== undefined) c.push(/[*?[]/.test(f.host) ? `host ~ ${p.add(globRegex(f.host.toLowerCase()))}` : `host = ${p.add(f.host.toLowerCase())}`);
  if (f.decision !== undefined) c.push(`decision = ${p.add(f.decision)}`);
  if (f.method !== undefined) c.push(`method = ${p.add(f.method.toUpperCase())}`);
  if (f.status !== undefined) c.push(`status = ${p.add(f.status)}`);
  if (f.statusClass !== undefined) c.push(`status BETWEEN ${p.add(f.statusClass * 100)} AND ${p.add(f.statusClass * 100 + 99)}`);
  if (f.since !== undefined) c.push(`started_at >= ${p.add(f.since)}`);
  if (f.until !== undefined) c.push(`started_at < ${p.add(f.until)}`);
  if (f.rule !== undefined) c.push(`rule_id = ${p.add(f.rule)}`);
  if (f.agent !== undefined) c.push(`agent_user = ${p.add(f.agent)}`);
  if (f.instance !== undefined) c.push(`instance = ${p.add(f.instance)}`);
  if (f.pathPrefix !== undefined) c.push(`starts_with(path, ${p.add(f.pathPrefix)})`);
  if (f.hasFinding) c.push('EXISTS (SELECT 1 FROM findings WHERE findings.flow_id = flows.id)');
  if (f.text !== undefined) {
    const phrases = ftsPhrases(f.text);
    if (phrases === null) c.push('FALSE');
    else c.push(`fts @@ (${phrases.map((w) => `phraseto_tsquery('simple', ${p.add(w)})`).join(' && ')})`);
  }
  if (f.expr !== undefined) c.push(exprPg(f.expr, p));
  return c.join(' AND ');
}

type ExprNode = ReturnType<typeof parseExpr>;

/** A boolean filter expression (store/expr.ts) as PostgreSQL SQL: the same terms as exprSql's for SQLite. */
function exprPg(src: string, p: Params): string {
  const node = parseExpr(src);
  exprSql(node); // the same checks of each term's value (and errors) as with SQLite
  const walk = (n: ExprNode): string => {
    switch (n.op) {
      case 'and':
      case 'or':
        return `(${n.args.map(walk).join(n.op === 'and' ? ' AND ' : ' OR ')})`;
      case 'not':
        // NULL columns (a refused connection has no method) count as "does not match", so NOT matches them.
        return `(NOT coalesce(${walk(n.arg)}, false))`;
      default:
        return termPg(n.field, n.value, p);
    }
  };
  return walk(node);
}

function termPg(field: string, value: string, p: Params): string {
  switch (field) {
    case 'host':
      return /[*?[]/.test(value) ? `(host ~ ${p.add(globRegex(value.toLowerCase()))})` : `(host = ${p.add(value.toLowerCase())})`;
    case 'decision':
      return `(decision = ${p.add(value)})`;
    case 'method':
      return `(method = ${p.add(value.toUpperCase())})`;
    case 'status': {
      const cls = /^([1-5])xx$/i.exec(value);
      return cls ? `(status BETWEEN ${p.add(Number(cls[1]) * 100)} AND ${p.add(Number(cls[1]) * 100 + 99)})` : `(status = ${p.add(Number(value))})`;
    }
    case 'rule':
      return `(rule_id = ${p.add(value)})`;
    case 'agent':
      return `(agent_user = ${p.add(value)})`;
    case 'listener':
      return `(listener = ${p.add(value)})`;
    case 'code':
      return `(code = ${p.add(value)})`;
    case 'path':
      return `starts_with(path, ${p.add(value)})`;
    case 'finding':
      return value === '*'
        ? 'EXISTS (SELECT 1 FROM findings WHERE findings.flow_id = flows.id)'
        : `EXISTS (SELECT 1 FROM findings WHERE findings.flow_id = flows.id AND findings.rule_id = ${p.add(value)})`;
    default: {
      const phrases = ftsPhrases(value);
      return phrases === null ? 'FALSE' : `(fts @@ (${phrases.map((w) => `phraseto_tsquery('simple', ${p.add(w)})`).join(' && ')}))`;
    }
  }
}

/** WHERE clause (empty or starting with WHERE), the filter's own `after` cursor included. */
export function pgWhere(f: FlowFilter, p: Params, ...extra: string[]): string {
  const all = [pgConditions(f, p), ...extra].filter((x) => x !== '');
  if (f.after !== undefined) all.push(`id > ${p.add(f.after)}`);
  return all.length ? `WHERE ${all.join(' AND ')}` : '';
}
