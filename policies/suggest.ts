// `airlock policy suggest`: recorded flows in, a reviewed policy fragment out. One rule per host
// (many subdomains of one parent collapse to "*.parent"), allowing the methods, ports and path
// prefixes the flows used and nothing more, each with its counts and example flows. Flows the
// policy in force already allows are left out, unless every flow is asked for.
import { decideConnect, decideRequest } from './decide.ts';
import { isIP } from 'node:net';
import type { FlowFacts } from './replay.ts';
import type { Config } from './types.ts';

/** Decisions that show what agents needed: let through (or would have been), or denied by the host rules. */
const NEEDED = new Set(['host_not_allowed', 'port_not_allowed', 'method_not_allowed', 'path_not_allowed', 'plain_http_not_allowed', 'websocket_not_allowed']);
/** This many subdomains of one parent become "*.parent". */
export const COLLAPSE_AT = 3;
/** More path prefixes than this on one host: the rule allows any path. */
const MAX_PREFIXES = 8;
const EXAMPLES = 3;

export interface SuggestedRule {
  name: string;
  match: string;
  /** Hosts the rule stands for (one, or the subdomains collapsed into a wildcard). */
  hosts: string[];
  ports?: number[];
  methods?: string[];
  paths?: string[];
  plainHttp: boolean;
  websocket: boolean;
  agents?: string[];
  flows: number;
  decisions: Record<string, number>;
  /** Path prefixes with their counts, busiest first. */
  prefixes: [string, number][];
  /** No request was seen, only connections (CONNECT): methods and paths are unknown. */
  connectOnly: boolean;
  examples: number[];
}

interface HostTally {
  host: string;
  ports: Set<number>;
  schemes: Set<string>;
  websocket: boolean;
  /** prefix -> methods and count */
  prefixes: Map<string, { methods: Set<string>; n: number }>;
  flows: number;
  decisions: Record<string, number>;
  examples: number[];
  requests: number;
  from: number;
  to: number;
}

export interface SuggestOptions {
  /** Skip flows this policy allows already (the policy in force). */
  current?: Config;
  /** Rules are scoped to this agent (`agents: [X]`). */
  agent?: string;
}

export class Suggest {
  private hosts = new Map<string, HostTally>();
  private seen = 0;
  private used = 0;
  private from = Infinity;
  private to = -Infinity;

  constructor(private readonly opts: SuggestOptions = {}) {}

  add(f: FlowFacts): void {
    this.seen++;
    if (!f.host || f.port === null || !needed(f)) return;
    if (this.opts.current && allowedNow(this.opts.current, f)) return;
    this.used++;
    this.from = Math.min(this.from, f.started_at);
    this.to = Math.max(this.to, f.started_at);
    let t = this.hosts.get(f.host);
    if (!t) {
      t = { host: f.host, ports: new Set(), schemes: new Set(), websocket: false, prefixes: new Map(), flows: 0, decisions: {}, examples: [], requests: 0, from: f.started_at, to: f.started_at };
      this.hosts.set(f.host, t);
    }
    t.flows++;
    t.decisions[f.decision] = (t.decisions[f.decision] ?? 0) + 1;
    if (t.examples.length < EXAMPLES) t.examples.push(f.id);
    t.ports.add(f.port);
    if (f.method === 'CONNECT' || f.path === null) return;
    t.requests++;
    t.schemes.add(f.scheme ?? 'https');
    if (f.protocol === 'ws') t.websocket = true;
    const prefix = prefixOf(f.path);
    let p = t.prefixes.get(prefix);
    if (!p) t.prefixes.set(prefix, (p = { methods: new Set(), n: 0 }));
    p.n++;
    p.methods.add(f.method ?? 'GET');
  }

  /** Flows read, and how many of them the suggestion stands for. */
  counts(): { read: number; used: number; from: number | null; to: number | null } {
    return { read: this.seen, used: this.used, from: this.used ? this.from : null, to: this.used ? this.to : null };
  }

  rules(): SuggestedRule[] {
    const groups = collapse([...this.hosts.values()]);
    const taken = new Set([...(this.opts.current?.hosts ?? []), ...(this.opts.current?.deny ?? [])].map((r) => r.id));
    const out: SuggestedRule[] = [];
    for (const [match, tallies] of groups) {
      const merged = merge(match, tallies);
      // Requests to "/" are a prefix of every path: their methods get a rule of their own, without paths.
      const root = merged.prefixes.get('/');
      const rest = [...merged.prefixes].filter(([prefix]) => prefix !== '/');
      const base = { match, hosts: tallies.map((t) => t.host).sort(), ports: portsOf(merged), plainHttp: merged.schemes.has('http'), websocket: merged.websocket };
      const agents = this.opts.agent ? { agents: [this.opts.agent] } : {};
      if (merged.requests === 0) {
        out.push({ ...base, ...agents, name: nameFor(match, taken), flows: merged.flows, decisions: merged.decisions, prefixes: [], connectOnly: true, examples: merged.examples });
        continue;
      }
      if (rest.length) {
        const methods = new Set(rest.flatMap(([, p]) => [...p.methods]));
        const prefixes = rest.map(([prefix, p]): [string, number] => [prefix, p.n]).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
        const n = prefixes.reduce((a, [, c]) => a + c, 0);
        out.push({
          ...base,
          ...agents,
          name: nameFor(match, taken),
          methods: [...methods].sort(),
          ...(prefixes.length <= MAX_PREFIXES ? { paths: prefixes.map(([p]) => p).sort() } : {}),
          flows: root ? n : merged.flows,
          decisions: root ? { requests: n } : merged.decisions,
          prefixes,
          connectOnly: false,
          examples: merged.examples,
        });
      }
      if (root) {
        out.push({
          ...base,
          ...agents,
          name: nameFor(`${match}.root`, taken),
          methods: [...root.methods].sort(),
          flows: root.n,
          decisions: rest.length ? { requests: root.n } : merged.decisions,
          prefixes: [['/', root.n]],
          connectOnly: false,
          examples: merged.examples,
        });
      }
    }
    return out;
  }
}

function needed(f: FlowFacts): boolean {
  if (f.decision === 'allow' || f.decision === 'would_deny') return true;
  if (f.decision === 'error') return f.code !== 'address_not_allowed';
  return f.decision === 'deny' && f.code !== null && NEEDED.has(f.code);
}

function allowedNow(c: Config, f: FlowFacts): boolean {
  const agent = { user: f.agent_user ?? undefined, listener: f.listener };
  if (f.method === 'CONNECT' || f.path === null) return decideConnect(c, f.host!, f.port!, agent).allow;
  return decideRequest(c, { host: f.host!, port: f.port!, scheme: f.scheme === 'http' ? 'http' : 'https', method: f.method ?? 'GET', path: f.path, websocket: f.protocol === 'ws', agent }).allow;
}

/** "/v1/messages" -> "/v1/"; "/health" -> "/health"; "/" -> "/". */
export function prefixOf(path: string): string {
  const q = path.search(/[?#]/);
  const p = q === -1 ? path : path.slice(0, q);
  const second = p.indexOf('/', 1);
  return second === -1 ? p || '/' : p.slice(0, second + 1);
}

/** Hosts grouped by the rule match they get: COLLAPSE_AT or more subdomains of one parent (of two labels or more) share "*.parent". */
function collapse(tallies: HostTally[]): Map<string, HostTally[]> {
  const byParent = new Map<string, HostTally[]>();
  for (const t of tallies) {
    const dot = t.host.indexOf('.');
    const parent = dot === -1 || isIP(t.host) !== 0 ? '' : t.host.slice(dot + 1);
    if (!parent.includes('.')) continue;
    byParent.set(parent, [...(byParent.get(parent) ?? []), t]);
  }
  const out = new Map<string, HostTally[]>();
  const collapsed = new Set<HostTally>();
  for (const [parent, group] of byParent) {
    if (group.length < COLLAPSE_AT) continue;
    out.set(`*.${parent}`, group);
    for (const t of group) collapsed.add(t);
  }
  for (const t of tallies) if (!collapsed.has(t)) out.set(t.host, [t]);
  return new Map([...out].sort((a, b) => b[1].reduce((n, t) => n + t.flows, 0) - a[1].reduce((n, t) => n + t.flows, 0) || a[0].localeCompare(b[0])));
}

function merge(match: string, tallies: HostTally[]): HostTally {
  const m: HostTally = { host: match, ports: new Set(), schemes: new Set(), websocket: false, prefixes: new Map(), flows: 0, decisions: {}, examples: [], requests: 0, from: Infinity, to: -Infinity };
  for (const t of tallies) {
    t.ports.forEach((p) => m.ports.add(p));
    t.schemes.forEach((s) => m.schemes.add(s));
    m.websocket ||= t.websocket;
    for (const [prefix, p] of t.prefixes) {
      let q = m.prefixes.get(prefix);
      if (!q) m.prefixes.set(prefix, (q = { methods: new Set(), n: 0 }));
      q.n += p.n;
      p.methods.forEach((x) => q!.methods.add(x));
    }
    m.flows += t.flows;
    m.requests += t.requests;
    for (const [d, n] of Object.entries(t.decisions)) m.decisions[d] = (m.decisions[d] ?? 0) + n;
    m.examples.push(...t.examples.slice(0, EXAMPLES - m.examples.length));
  }
  return m;
}

/** Ports beyond the default (443, and 80 for plain HTTP) are listed. */
function portsOf(t: HostTally): number[] | undefined {
  const ports = [...t.ports].sort((a, b) => a - b);
  const defaults = t.schemes.has('http') ? [443, 80] : [443];
  return ports.every((p) => defaults.includes(p)) ? undefined : ports;
}

function nameFor(match: string, taken: Set<string>): string {
  const base = match.replace(/^\*\./, 'any.').replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 60) || 'suggested';
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  taken.add(name);
  return name;
}

/** The fragment as YAML to paste under `hosts:`, every rule with its evidence in comments. */
export function suggestionYaml(rules: SuggestedRule[], header: string[]): string {
  const lines = header.map((h) => `# ${h}`);
  if (!rules.length) return [...lines, '# nothing to add: no recorded flow needs a new rule', 'hosts: []', ''].join('\n');
  lines.push('hosts:');
  const q = (s: string) => JSON.stringify(s);
  for (const r of rules) {
    const decisions = Object.entries(r.decisions).map(([d, n]) => `${d} ${n}`).join(', ');
    lines.push(`  # ${r.flows} flow${r.flows === 1 ? '' : 's'} (${decisions}); e.g. flow${r.examples.length === 1 ? '' : 's'} ${r.examples.join(', ')}`);
    if (r.hosts.length > 1) lines.push(`  # ${r.hosts.length} subdomains: ${r.hosts.slice(0, 6).join(', ')}${r.hosts.length > 6 ? ', ...' : ''}`);
    if (r.prefixes.length) lines.push(`  # paths: ${r.prefixes.slice(0, 10).map(([p, n]) => `${p} ${n}`).join(', ')}${r.prefixes.length > 10 ? ', ...' : ''}`);
    if (r.connectOnly) lines.push('  # only connections were seen (no request inside): record in report mode to learn methods and paths');
    if (r.prefixes.length && !r.paths) lines.push(`  # ${r.prefixes.length} path prefixes: this rule allows any path${r.prefixes[0][0] === '/' ? ' (requests to "/")' : ''}`);
    lines.push(`  - name: ${q(r.name)}`, `    match: ${q(r.match)}`);
    if (r.agents) lines.push(`    agents: [${r.agents.map(q).join(', ')}]`);
    if (r.ports) lines.push(`    ports: [${r.ports.join(', ')}]`);
    if (r.methods) lines.push(`    methods: [${r.methods.join(', ')}]`);
    if (r.paths) lines.push(`    paths: [${r.paths.map(q).join(', ')}]`);
    if (r.plainHttp) lines.push('    plain_http: true');
    if (!r.websocket) lines.push('    websocket: false');
  }
  return lines.join('\n') + '\n';
}
