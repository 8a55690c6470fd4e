// parsePolicy: untrusted YAML data in, a frozen Config (or every problem found) out.
import { resolve } from 'node:path';
import { rulePorts } from './decide.ts';
import { explainRule } from './explain.ts';
import { deepFreeze } from './freeze.ts';
import { hostMatches } from './hostnames.ts';
import { parseCidr } from './ip.ts';
import { parseBudgets, parsePrices } from './parse-budgets.ts';
import { parseDeny } from './parse-deny.ts';
import { parseDlp } from './parse-dlp.ts';
import { parseHosts, parseMode, type DraftRule } from './parse-hosts.ts';
import { parseIncludes } from './parse-include.ts';
import { parseLimits } from './parse-limits.ts';
import { checkListenerClashes, parseListenSection, parseRoutes } from './parse-listen.ts';
import { parseStore } from './parse-store.ts';
import { parseUpstream } from './parse-upstream.ts';
import { Problems, checkKeys, mapping, optBool, optInt, optString, present, type Fields } from './problems.ts';
import type { Config, DenyRule, HostRule, ParseResult, Route } from './types.ts';
import { parseDuration, parseSize } from './units.ts';

export interface ParseOptions {
  /** Relative paths in the policy (data_dir, ca_files, file: secrets, unix sockets) are resolved here. */
  baseDir: string;
  env: NodeJS.ProcessEnv;
  /** Used when the policy has no data_dir. */
  defaultDataDir: string;
  sourcePath?: string;
}

/** More serving processes than this is a typo, not a machine. */
export const MAX_WORKERS = 64;

const TOP_KEYS = ['data_dir', 'mode', 'include', 'explain_in_tls', 'listen', 'routes', 'upstream', 'ca', 'store', 'log', 'limits', 'hosts', 'deny', 'dlp', 'prices', 'budgets', 'workers'];

export function parsePolicy(raw: unknown, opts: ParseOptions): ParseResult {
  const p = new Problems();
  // An empty YAML file is null: treat it as an empty mapping so the real problem (no listener) is reported.
  const root = raw === null || raw === undefined ? new Map<string, unknown>() : mapping(raw, 'policy', p);
  if (!root) return { ok: false, errors: p.list };
  checkKeys(root, TOP_KEYS, '', p);

  const dataDirText = optString(root, 'data_dir', '', p);
  const dataDir = dataDirText ? resolve(opts.baseDir, dataDirText) : resolve(opts.defaultDataDir);
  const before = p.list.length;
  const listen = parseListenSection(root.get('listen'), opts.baseDir, p);
  const { routes, listeners } = parseRoutes(root.get('routes'), opts.baseDir, p);
  checkListenerClashes(listen, listeners, p);
  if (!listen.proxy && !listen.transparent && routes.length === 0 && p.list.length === before) {
    p.add('listen', 'nothing to listen on; set listen.proxy, listen.transparent or routes');
  }
  const upstream = parseUpstream(root.get('upstream'), opts.baseDir, p);
  const ca = parseCa(section(root, 'ca', p), p);
  const store = parseStore(section(root, 'store', p), dataDir, p, { env: opts.env, baseDir: opts.baseDir });
  const log = parseLog(section(root, 'log', p), p);
  const limits = parseLimits(root.get('limits'), p);
  const dlp = parseDlp(root.get('dlp'), p);
  const ids = new Map<string, string>();
  const hostsCtx = { baseDir: opts.baseDir, env: opts.env, p, ids };
  const own = parseHosts(root.get('hosts'), hostsCtx);
  const included = parseIncludes(root.get('include'), hostsCtx, Array.isArray(root.get('hosts')) ? (root.get('hosts') as unknown[]).length : 0);
  const drafts = [...own, ...included.rules];
  addResolvedAddresses(drafts, upstream.resolve);
  const hosts: HostRule[] = drafts.map((rule) => ({ ...rule, explain: explainRule(rule) }));
  const deny = parseDeny(root.get('deny'), { baseDir: opts.baseDir, p, ids });
  checkRoutesAllowed(routes, hosts, deny, p);
  const prices = parsePrices(root.get('prices'), p);
  const budgets = parseBudgets(root.get('budgets'), { baseDir: opts.baseDir, p, hosts, prices, bodyCapBytes: store.bodyCapBytes });

  const mode = parseMode(root, '', p) ?? 'enforce';
  const explainInTls = parseExplainInTls(root.get('explain_in_tls'), p);
  const workers = parseWorkers(root.get('workers'), p);

  if (p.list.length > 0) return { ok: false, errors: p.list };
  const config: Config = {
    ...(opts.sourcePath === undefined ? {} : { sourcePath: resolve(opts.sourcePath) }),
    mode,
    presets: included.presets,
    explainInTls,
    dataDir,
    listen,
    routes,
    upstream,
    ca,
    store,
    log,
    limits,
    hosts,
    deny,
    dlp,
    prices,
    budgets,
    workers,
  };
  return { ok: true, config: deepFreeze(config) };
}

/** `workers: auto` (default: one per core airlock may use) or a number from 1 to 64. */
function parseWorkers(value: unknown, p: Problems): Config['workers'] {
  if (value === null || value === undefined || value === 'auto') return 'auto';
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= MAX_WORKERS) return value;
  p.add('workers', `expected auto or a whole number from 1 to ${MAX_WORKERS}`);
  return 'auto';
}

/** `explain_in_tls: true`, or `{ enabled: true, per_minute: 60 }` (answers per client and minute). */
function parseExplainInTls(value: unknown, p: Problems): Config['explainInTls'] {
  const off = { enabled: false, perMinute: 60 };
  if (value === null || value === undefined) return off;
  if (typeof value === 'boolean') return { ...off, enabled: value };
  const fields = mapping(value, 'explain_in_tls', p);
  if (!fields) return off;
  checkKeys(fields, ['enabled', 'per_minute'], 'explain_in_tls', p);
  return { enabled: optBool(fields, 'enabled', 'explain_in_tls', p, true), perMinute: optInt(fields, 'per_minute', 'explain_in_tls', p, 60, 1) };
}

function section(root: Fields, key: string, p: Problems): Fields {
  const value = root.get(key);
  if (value === null || value === undefined) return new Map();
  return mapping(value, key, p) ?? new Map();
}

function parseCa(fields: Fields, p: Problems): Config['ca'] {
  checkKeys(fields, ['name_constraints', 'cache_size'], 'ca', p);
  return {
    nameConstraints: optBool(fields, 'name_constraints', 'ca', p, false),
    cacheSize: optInt(fields, 'cache_size', 'ca', p, 1000, 1),
  };
}

function parseLog(fields: Fields, p: Problems): Config['log'] {
  checkKeys(fields, ['flows'], 'log', p);
  return { flows: optBool(fields, 'flows', 'log', p, true) };
}

/**
 * A pinned address was chosen by the operator for that name, so it is allowed even when private:
 * it joins allowIps of every rule covering the name, and the proxy needs to check only allowIps.
 */
function addResolvedAddresses(rules: DraftRule[], pinned: Map<string, string>): void {
  for (const [name, ip] of pinned) {
    for (const rule of rules) {
      if (!hostMatches(rule.match, name) || rule.allowIps.some((c) => c.text === ip)) continue;
      const cidr = parseCidr(ip);
      if (cidr) rule.allowIps.push(cidr);
    }
  }
}

/** A route whose upstream no rule allows (or a deny rule refuses outright) could only ever answer 403: report it now. */
function checkRoutesAllowed(routes: Route[], hosts: HostRule[], deny: DenyRule[], p: Problems): void {
  for (const route of routes) {
    const { hostname, protocol } = route.upstream;
    const host = hostname.replace(/^\[|\]$/g, '');
    const port = route.upstream.port === '' ? (protocol === 'https:' ? 443 : 80) : Number(route.upstream.port);
    const plain = protocol === 'http:';
    const covered = hosts.some((r) => hostMatches(r.match, host) && rulePorts(r).includes(port) && (!plain || r.plainHttp));
    const denied = deny.find((d) => !d.methods && !d.paths && !d.agents && (d.match === '*' || hostMatches(d.match, host)) && (!d.ports || d.ports.includes(port)));
    if (!covered) {
      p.add(`routes[${route.index}].upstream`, `no hosts rule allows ${plain ? 'plain HTTP to ' : ''}${host} on port ${port}`);
    } else if (denied) {
      p.add(`routes[${route.index}].upstream`, `${host} on port ${port} is denied by ${denied.id === `deny[${denied.index}]` ? denied.id : `deny[${denied.index}] (${denied.id})`}`);
    }
  }
}
