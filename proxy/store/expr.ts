// Boolean filter expressions over flows (the UI's and API's `q`, `airlock flows --where`):
//
//   query := or
//   or    := and ("or" and)*
//   and   := not (["and"] not)*          two terms side by side mean "and"
//   not   := ("not" | "-") not | "(" or ")" | term
//   term  := FIELD ":" VALUE | VALUE     a bare value is searched as text
//   FIELD := host | decision | method | status | rule | agent | listener | path | code | text | finding
//   VALUE := a word, or "a quoted string" (\" and \\ escape)
//
// e.g.  host:*.github.com and (decision:deny or text:"private key") and not method:GET
// Keywords are case-insensitive. Every value becomes a bound parameter; full-text words are
// FTS5 string literals (search.ts ftsMatch), never FTS syntax. docs/ui.md has the grammar.
import { ftsMatch } from './search.ts';

export class ExprError extends Error {}

type Node = { op: 'and' | 'or'; args: Node[] } | { op: 'not'; arg: Node } | { op: 'term'; field: string; value: string };

const FIELDS = ['host', 'decision', 'method', 'status', 'rule', 'agent', 'listener', 'path', 'code', 'text', 'finding'];
const DECISIONS = ['allow', 'would_deny', 'deny', 'refuse', 'error'];
const MAX_TERMS = 32;
const MAX_DEPTH = 16;

type Token = { kind: 'word' | 'string' | '(' | ')'; text: string; at: number };

/** A quoted string starting at src[i] (a '"'): its text and the index after its closing quote. */
function readQuoted(src: string, i: number): { text: string; end: number } {
  let text = '';
  let j = i + 1;
  while (j < src.length && src[j] !== '"') {
    if (src[j] === '\\' && j + 1 < src.length) j++;
    text += src[j++];
  }
  if (j >= src.length) throw new ExprError(`unclosed quote at ${i + 1}`);
  return { text, end: j + 1 };
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')') {
      out.push({ kind: c, text: c, at: i++ });
    } else if (c === '"') {
      const q = readQuoted(src, i);
      out.push({ kind: 'string', text: q.text, at: i });
      i = q.end;
    } else {
      const at = i;
      let text = '';
      while (i < src.length && !/[\s()]/.test(src[i])) {
        // field:"a quoted value"; the NUL marks where the value starts (it never comes from input: see parseExpr)
        if (src[i] === '"' && text.endsWith(':')) {
          const q = readQuoted(src, i);
          text += '\u0000' + q.text;
          i = q.end;
          break;
        }
        text += src[i++];
      }
      out.push({ kind: 'word', text, at });
    }
  }
  return out;
}

export function parseExpr(src: string): Node {
  // Control characters are not search input (and NUL marks a quoted value inside a word).
  // eslint-disable-next-line no-control-regex
  const tokens = tokenize(src.replace(/[\u0000-\u001f\u007f]/g, ' '));
  let pos = 0;
  let terms = 0;
  const peek = () => tokens[pos];
  const keyword = (t: Token | undefined, k: string) => t?.kind === 'word' && t.text.toLowerCase() === k;
  const where = (t: Token | undefined) => (t ? `at ${t.at + 1}` : 'at the end');

  function or(depth: number): Node {
    const args = [and(depth)];
    while (keyword(peek(), 'or')) {
      pos++;
      args.push(and(depth));
    }
    return args.length === 1 ? args[0] : { op: 'or', args };
  }
  function and(depth: number): Node {
    const args = [not(depth)];
    for (;;) {
      const t = peek();
      if (!t || t.kind === ')' || keyword(t, 'or')) break;
      if (keyword(t, 'and')) pos++;
      args.push(not(depth));
    }
    return args.length === 1 ? args[0] : { op: 'and', args };
  }
  function not(depth: number): Node {
    if (depth > MAX_DEPTH) throw new ExprError(`nested deeper than ${MAX_DEPTH}`);
    const t = peek();
    if (!t) throw new ExprError('a term is missing at the end');
    if (keyword(t, 'not')) {
      pos++;
      return { op: 'not', arg: not(depth + 1) };
    }
    if (t.kind === 'word' && t.text.startsWith('-') && t.text.length > 1) {
      t.text = t.text.slice(1);
      return { op: 'not', arg: not(depth + 1) };
    }
    if (t.kind === '(') {
      pos++;
      const inner = or(depth + 1);
      if (peek()?.kind !== ')') throw new ExprError(`expected ")" ${where(peek())}`);
      pos++;
      return inner;
    }
    if (t.kind === ')') throw new ExprError(`unexpected ")" ${where(t)}`);
    if (keyword(t, 'and') || keyword(t, 'or')) throw new ExprError(`a term is missing before "${t.text}" ${where(t)}`);
    pos++;
    if (++terms > MAX_TERMS) throw new ExprError(`more than ${MAX_TERMS} terms`);
    return term(t);
  }
  function term(t: Token): Node {
    if (t.kind === 'string') return { op: 'term', field: 'text', value: t.text };
    const colon = t.text.indexOf(':');
    const field = colon > 0 ? t.text.slice(0, colon).toLowerCase() : '';
    if (!FIELDS.includes(field)) {
      if (colon > 0 && /^[a-z_]+$/i.test(field)) throw new ExprError(`unknown field "${field}" ${where(t)}; fields: ${FIELDS.join(', ')}`);
      return { op: 'term', field: 'text', value: t.text.replace('\u0000', '') };
    }
    const raw = t.text.slice(colon + 1);
    const value = raw.startsWith('\u0000') ? raw.slice(1) : raw;
    if (value === '') throw new ExprError(`${field}: needs a value ${where(t)}`);
    return { op: 'term', field, value };
  }

  if (!tokens.length) throw new ExprError('empty expression');
  const node = or(0);
  if (pos < tokens.length) throw new ExprError(`unexpected "${tokens[pos].text}" ${where(tokens[pos])}`);
  return node;
}

/** The expression as a WHERE condition over `flows` with its bound parameters. */
export function exprSql(node: Node): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const walk = (n: Node): string => {
    switch (n.op) {
      case 'and':
      case 'or':
        return `(${n.args.map(walk).join(n.op === 'and' ? ' AND ' : ' OR ')})`;
      case 'not':
        // NULL columns (a refused connection has no method) count as "does not match", so NOT matches them.
        return `(NOT coalesce(${walk(n.arg)}, 0))`;
      default:
        return termSql(n.field, n.value, params);
    }
  };
  return { sql: walk(node), params };
}

function termSql(field: string, value: string, params: unknown[]): string {
  const bind = (sql: string, ...v: unknown[]) => (params.push(...v), sql);
  switch (field) {
    case 'host':
      return /[*?[]/.test(value) ? bind('(flows.host GLOB ?)', value.toLowerCase()) : bind('(flows.host = ?)', value.toLowerCase());
    case 'decision':
      if (!DECISIONS.includes(value)) throw new ExprError(`decision: must be one of ${DECISIONS.join(', ')}`);
      return bind('(flows.decision = ?)', value);
    case 'method':
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}$/.test(value)) throw new ExprError('method: must be an HTTP method such as GET');
      return bind('(flows.method = ?)', value.toUpperCase());
    case 'status': {
      const cls = /^([1-5])xx$/i.exec(value);
      if (cls) return bind('(flows.status BETWEEN ? AND ?)', Number(cls[1]) * 100, Number(cls[1]) * 100 + 99);
      if (/^[1-5]\d\d$/.test(value)) return bind('(flows.status = ?)', Number(value));
      throw new ExprError('status: must be a status (404) or a class (4xx)');
    }
    case 'rule':
      return bind('(flows.rule_id = ?)', value);
    case 'agent':
      return bind('(flows.agent_user = ?)', value);
    case 'listener':
      return bind('(flows.listener = ?)', value);
    case 'code':
      return bind('(flows.code = ?)', value);
    case 'path':
      return bind('(flows.path GLOB ?)', value.replace(/[*?[]/g, (c) => `[${c}]`) + '*');
    case 'finding':
      return value === '*'
        ? 'EXISTS (SELECT 1 FROM findings WHERE findings.flow_id = flows.id)'
        : bind('EXISTS (SELECT 1 FROM findings WHERE findings.flow_id = flows.id AND findings.rule_id = ?)', value);
    default: {
      const match = ftsMatch(value);
      return match === null ? '(0)' : bind('(flows.id IN (SELECT rowid FROM flows_fts WHERE flows_fts MATCH ?))', match);
    }
  }
}
