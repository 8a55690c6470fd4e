/** @jsxImportSource hono/jsx */
// The flow filters of the UI's pages: the API's query parameters (docs/api.md). Empty fields are
// absent and unknown parameters ignored (a form sends every field), but every value given is
// validated by the same code as the API's (proxy/flow-filter.ts): a bad value is a 400 page that
// names the field, never a query.
import { UsageError } from '../proxy/flow-filter.ts';
import type { FlowFilter } from '../proxy/store/search.ts';
import { filterFrom } from './app.ts';
import { qs } from './components.tsx';

export const FILTER_KEYS = ['q', 'text', 'host', 'method', 'status', 'decision', 'rule', 'agent', 'instance', 'since', 'until', 'path', 'has_finding'] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];
export type FilterValues = Partial<Record<FilterKey, string>>;

export interface ReadFilter {
  values: FilterValues;
  filter: FlowFilter;
  /** Set when a value is invalid; `filter` then matches nothing. */
  error: string | null;
}

export function readFilter(query: Record<string, string>, defaults: FilterValues = {}): ReadFilter {
  const values: FilterValues = {};
  for (const k of FILTER_KEYS) {
    const v = query[k] ?? defaults[k];
    if (v !== undefined && v.trim() !== '') values[k] = v;
  }
  // "all" lifts a page's default time window.
  const { since, ...rest } = values;
  const effective = since === 'all' ? rest : values;
  try {
    return { values, filter: filterFrom(effective as Record<string, string>), error: null };
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return { values, filter: { text: '' }, error: e.message };
  }
}

/** The first value of each query parameter (the UI never needs repeats). */
export function firstValues(all: Record<string, string[]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(all)) if (v.length) out[k] = v[0];
  return out;
}

export function filterQuery(values: FilterValues, extra: Record<string, string | number | undefined> = {}): string {
  return qs({ ...values, ...extra });
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'CONNECT'];
const TIMES = ['15m', '1h', '6h', '24h', '7d', '30d', 'all'];

export function FilterForm(props: { action: string; values: FilterValues; rules?: string[]; instances?: string[]; compact?: boolean }) {
  const v = props.values;
  const field = (name: FilterKey, label: string, attrs: Record<string, string> = {}) => (
    <label>
      {label}
      <input name={name} value={v[name] ?? ''} autocomplete="off" spellcheck={false} {...attrs} />
    </label>
  );
  return (
    <form class="filters" method="get" action={props.action} role="search" aria-label="Filter flows">
      {!props.compact && (
        <label class="expr">
          Expression (and, or, not, parentheses; fields host: decision: method: status: rule: agent: listener: path: code: text: finding:)
          <input
            name="q"
            value={v.q ?? ''}
            autocomplete="off"
            spellcheck={false}
            placeholder='host:*.github.com and (decision:deny or text:"private key") and not method:GET'
          />
        </label>
      )}
      {field('text', 'Search text', { type: 'search', placeholder: 'words in URL, headers, bodies' })}
      {field('host', 'Host', { placeholder: '*.example.com' })}
      {!props.compact && field('method', 'Method', { list: 'methods', placeholder: 'any' })}
      {!props.compact && field('status', 'Status', { placeholder: '404 or 4xx', inputmode: 'numeric' })}
      <label>
        Decision
        <select name="decision">
          <option value="">any</option>
          {['allow', 'would_deny', 'deny', 'refuse', 'error'].map((d) => (
            <option value={d} selected={v.decision === d}>
              {d}
            </option>
          ))}
        </select>
      </label>
      {field('rule', 'Rule', { list: 'rules', placeholder: 'rule id' })}
      {field('agent', 'Agent', { placeholder: 'agent user' })}
      {((props.instances?.length ?? 0) > 1 || v.instance !== undefined) && (
        <label>
          Instance
          <select name="instance">
            <option value="">any</option>
            {[...new Set([...(props.instances ?? []), ...(v.instance !== undefined ? [v.instance] : [])])].map((name) => (
              <option value={name} selected={v.instance === name}>
                {name}
              </option>
            ))}
          </select>
        </label>
      )}
      {field('since', 'Since', { list: 'times', placeholder: '1h or ISO time' })}
      {!props.compact && field('until', 'Until', { list: 'times', placeholder: 'ISO time' })}
      {!props.compact && field('path', 'Path prefix', { placeholder: '/v1/' })}
      {!props.compact && (
        <label class="check">
          <input type="checkbox" name="has_finding" value="1" checked={v.has_finding === '1' || v.has_finding === 'true'} />
          with DLP findings
        </label>
      )}
      <div class="actions">
        <button type="submit" class="primary">
          Apply
        </button>
        <a href={props.action}>Clear</a>
      </div>
      <datalist id="methods">
        {METHODS.map((m) => (
          <option value={m} />
        ))}
      </datalist>
      <datalist id="times">
        {TIMES.map((t) => (
          <option value={t} />
        ))}
      </datalist>
      <datalist id="rules">
        {(props.rules ?? []).map((r) => (
          <option value={r} />
        ))}
      </datalist>
    </form>
  );
}
