// Flow-search properties (see bench/fuzz-props.ts): filters from untrusted text are validated
// (never guessed) and bound values.
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { filterOf, UsageError } from '../proxy/flow-filter.ts';
import { migrate } from '../proxy/store/schema.ts';
import { searchFlows, type FlowFilter } from '../proxy/store/search.ts';
import { fail, type Prop } from './fuzz-props.ts';

// ---------------------------------------------------------------- flow search

let searchDb: Database.Database | undefined;
/** A small in-memory store with known rows. */
function db(): Database.Database {
  if (searchDb) return searchDb;
  const d = new Database(':memory:');
  migrate(d);
  const insert = d.prepare(
    `INSERT INTO flows (flow_id, started_at, entry, listener, client, method, scheme, host, port, path, query, protocol, status, decision, rule_id, agent_user, bytes_up, bytes_down, request_headers)
     VALUES (?, ?, 'explicit', 'l', 'c', ?, 'https', ?, 443, ?, ?, 'h1', ?, ?, ?, ?, 0, 0, ?)`,
  );
  const hosts = ['api.test', 'other.test', "it's.test", 'a%b.test', 'x*y.test'];
  for (let i = 0; i < 40; i++) {
    insert.run(`f${i}`, i * 1000, ['GET', 'POST'][i % 2], hosts[i % hosts.length], `/p${i % 7}/${i % 3 ? "o'r" : '*'}`, i % 4 ? null : 'q=1', 200 + (i % 5) * 100,
      ['allow', 'deny', 'refuse', 'error'][i % 4], `r${i % 3}`, i % 2 ? 'alice' : null, JSON.stringify({ 'x-n': `v${i} "quoted" OR 1=1` }));
  }
  return (searchDb = d);
}

const filterArb = fc.record(
  {
    host: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('api.test', '*.test', "it's.test", "' OR 1=1 --")),
    decision: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('allow', "deny' OR '1'='1")),
    method: fc.string({ maxLength: 8 }),
    rule: fc.string({ maxLength: 8 }),
    agent: fc.string({ maxLength: 8 }),
    pathPrefix: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('/p1', '/p1/*', "/p2/o'r", '%')),
    // NUL included: ftsMatch() treats control characters as word separators (a NUL inside a quoted
    // FTS5 string used to end it early: "unterminated string").
    text: fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), fc.constantFrom('NEAR(a b)', '"', 'x*', 'OR 1=1', 'col:val', '^a', ') OR (', 'quoted', 'a\0b')),
    status: fc.integer({ min: 0, max: 700 }),
    statusClass: fc.integer({ min: 0, max: 9 }),
    since: fc.integer(),
    until: fc.integer(),
    after: fc.integer({ min: -1, max: 60 }),
  },
  { requiredKeys: [] },
);

export const SEARCH_PROPS: Prop[] = [
  {
    name: 'flow search: any filter text is a bound value: no error, and equality filters return only rows with exactly that value',
    arbs: [filterArb, fc.integer({ min: 1, max: 50 })],
    predicate: (f: FlowFilter, limit: number) => {
      const rows = searchFlows<Record<string, unknown>>(db(), f, limit, 'id, host, decision, method, rule_id, agent_user, path, status');
      if (rows.length > limit) fail('more rows than the limit');
      for (const r of rows) {
        if (f.decision !== undefined && r.decision !== f.decision) fail(`decision ${String(r.decision)} for filter ${f.decision}`);
        if (f.method !== undefined && r.method !== f.method.toUpperCase()) fail('method filter leaked');
        if (f.rule !== undefined && r.rule_id !== f.rule) fail('rule filter leaked');
        if (f.agent !== undefined && r.agent_user !== f.agent) fail('agent filter leaked');
        if (f.pathPrefix !== undefined && !String(r.path).startsWith(f.pathPrefix)) fail(`path ${String(r.path)} for prefix ${f.pathPrefix}`);
        if (f.host !== undefined && !/[*?[]/.test(f.host) && r.host !== f.host.toLowerCase()) fail('host filter leaked');
      }
      return true;
    },
  },
];


// ---------------------------------------------------------------- filter input

const FIELDS = ['host', 'decision', 'method', 'status', 'since', 'until', 'rule', 'agent', 'path', 'text', 'after'] as const;
const junk = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('junk 2001', '2025-02-30', '1', '-1', '1e3', '0x10', '4XX', '600', 'ALLOW', 'yesterday', '2025-01-31T12:00:00Z', '15m', '404', 'allow', 'GET'),
);
const isoOrRelative = /^\s*(\d{1,9}\s*[smhdw]|\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?)\s*$/i;

export const FILTER_PROPS: Prop[] = [
  {
    name: 'filter input: any value is either a valid filter or a UsageError that names its field; times are never guessed',
    arbs: [fc.constantFrom(...FIELDS), junk, fc.constantFrom('', '--')],
    predicate: (field: (typeof FIELDS)[number], value: string, flag: string) => {
      let f: FlowFilter;
      try {
        f = filterOf({ [field]: value }, flag);
      } catch (e) {
        if (!(e instanceof UsageError)) fail(`${field}=${JSON.stringify(value)} threw ${String(e)}`);
        if (!(e as Error).message.startsWith(`${flag}${field}`)) fail(`the error does not name ${flag}${field}: ${(e as Error).message}`);
        return true;
      }
      if ((field === 'since' || field === 'until') && !isoOrRelative.test(value)) fail(`${field}=${JSON.stringify(value)} was taken as a time`);
      if (field === 'status' && f.status === undefined && f.statusClass === undefined) fail('status lost');
      if (field === 'status' && f.status !== undefined && (f.status < 100 || f.status > 599)) fail(`status ${f.status}`);
      if (field === 'decision' && !['allow', 'deny', 'refuse', 'error'].includes(f.decision!)) fail(`decision ${f.decision}`);
      if (field === 'after' && !(Number.isSafeInteger(f.after) && f.after! >= 0)) fail(`after ${f.after}`);
      return true;
    },
  },
];
