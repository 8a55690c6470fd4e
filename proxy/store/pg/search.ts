// Finding flows in PostgreSQL: the same filters as search.ts builds for SQLite, as one WHERE
// clause with $n placeholders (every user-supplied value bound). A host glob (*, ?, [...], as
// SQLite's GLOB) becomes an anchored regular expression; full-text words become phrase queries
// over the tsvector, each word tokenized as the writer tokenized the text (batch.cjs ftsWords),
// so PostgreSQL's query syntax (& | ! <-> :*) is only text to look for.
import type { FlowFilter } from '../search.ts';
import { ftsWords } from './modules.ts';

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
  return c.join(' AND ');
}

/** WHERE clause (empty or starting with WHERE), the filter's own `after` cursor included. */
export function pgWhere(f: FlowFilter, p: Params, ...extra: string[]): string {
  const all = [pgConditions(f, p), ...extra].filter((x) => x !== '');
  if (f.after !== undefined) all.push(`id > ${p.add(f.after)}`);
  return all.length ? `WHERE ${all.join(' AND ')}` : '';
}
