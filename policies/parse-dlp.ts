// The `dlp:` section: mode, per-rule actions, custom rules (compiled and their examples run at
// load), and exceptions by host and path. Every problem is reported with its path.
import RE2 from 're2';
import { compileEngine, findMatches } from '../proxy/dlp/engine.ts';
import { compiledDlp } from '../proxy/dlp/policy.ts';
import { BUILTIN_RULES } from './dlp/index.ts';
import type { DlpAction, DlpRule, RuleAction, Severity } from './dlp/types.ts';
import { parseMatch } from './match.ts';
import { checkKeys, type Fields, join, mapping, optBool, optInt, optList, optString, present, type Problems, readString } from './problems.ts';
import type { DlpConfig, DlpException } from './types.ts';

const KEYS = ['enabled', 'mode', 'responses', 'actions', 'custom', 'exceptions', 'max_decoded_bytes', 'max_ratio'];
const RULE_KEYS = ['id', 'description', 'service', 'source', 'pattern', 'keywords', 'severity', 'action', 'examples'];
const EXCEPTION_KEYS = ['hosts', 'paths', 'rules', 'action'];
const ACTIONS: readonly RuleAction[] = ['block', 'redact', 'log', 'off'];
const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];
const ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

export function parseDlp(value: unknown, p: Problems): DlpConfig {
  const fields: Fields = value === null || value === undefined ? new Map() : (mapping(value, 'dlp', p) ?? new Map());
  checkKeys(fields, KEYS, 'dlp', p);
  const mode = optString(fields, 'mode', 'dlp', p) ?? 'enforce';
  if (mode !== 'enforce' && mode !== 'report') p.add('dlp.mode', 'expected "enforce" or "report"');
  const custom = parseCustom(fields, p);
  const rules = [...BUILTIN_RULES, ...custom];
  const ids = new Set(rules.map((r) => r.id));
  const actions: Record<string, RuleAction> = Object.create(null);
  for (const r of rules) actions[r.id] = r.action;
  const overrides = present(fields, 'actions') ? mapping(fields.get('actions'), 'dlp.actions', p) : null;
  for (const [id, a] of overrides ?? []) {
    const path = join('dlp.actions', id);
    if (!ids.has(id)) p.add(path, 'no such rule (see `airlock dlp rules`)');
    else {
      const action = readAction(a, path, p);
      if (action) actions[id] = action;
    }
  }
  const dlp: DlpConfig = {
    enabled: optBool(fields, 'enabled', 'dlp', p, true),
    mode: mode === 'report' ? 'report' : 'enforce',
    responses: optBool(fields, 'responses', 'dlp', p, false),
    rules,
    actions,
    exceptions: parseExceptions(fields, ids, p),
    maxDecodedBytes: optInt(fields, 'max_decoded_bytes', 'dlp', p, 1024 ** 3, 1024),
    maxRatio: optInt(fields, 'max_ratio', 'dlp', p, 100, 2),
  };
  // Compiled now, so a pattern RE2 refuses is a load error, not a failed request.
  if (p.list.length === 0) {
    try {
      compiledDlp(dlp);
    } catch (err) {
      p.add('dlp', `rules do not compile: ${(err as Error).message}`);
    }
  }
  return dlp;
}

function readAction(value: unknown, path: string, p: Problems): RuleAction | undefined {
  // YAML reads a bare `off` as false.
  const v = value === false ? 'off' : value;
  if (typeof v === 'string' && (ACTIONS as readonly string[]).includes(v)) return v as RuleAction;
  p.add(path, 'expected block, redact, log or off');
  return undefined;
}

function parseCustom(fields: Fields, p: Problems): DlpRule[] {
  const list = optList(fields, 'custom', 'dlp', p) ?? [];
  const builtin = new Set(BUILTIN_RULES.map((r) => r.id));
  const seen = new Set<string>();
  const out: DlpRule[] = [];
  list.forEach((item, i) => {
    const path = `dlp.custom[${i}]`;
    const f = mapping(item, path, p);
    if (!f) return;
    checkKeys(f, RULE_KEYS, path, p);
    const before = p.list.length;
    const id = optString(f, 'id', path, p);
    if (id === undefined) p.add(join(path, 'id'), 'required');
    else if (!ID.test(id)) p.add(join(path, 'id'), 'expected lower-case words joined by "-", e.g. acme-deploy-token');
    else if (builtin.has(id)) p.add(join(path, 'id'), `"${id}" is a built-in rule; change its action under dlp.actions instead`);
    else if (seen.has(id)) p.add(join(path, 'id'), `"${id}" is defined twice`);
    if (id) seen.add(id);
    const pattern = optString(f, 'pattern', path, p);
    if (pattern === undefined) p.add(join(path, 'pattern'), 'required');
    else {
      try {
        new RE2(pattern);
      } catch (err) {
        p.add(join(path, 'pattern'), `not a valid RE2 pattern: ${(err as Error).message}`);
      }
    }
    const keywords = (optList(f, 'keywords', path, p, true) ?? []).map((k, j) => readString(k, `${path}.keywords[${j}]`, p)?.toLowerCase());
    const severity = optString(f, 'severity', path, p) ?? 'high';
    if (!(SEVERITIES as readonly string[]).includes(severity)) p.add(join(path, 'severity'), 'expected low, medium, high or critical');
    const action = present(f, 'action') ? readAction(f.get('action'), join(path, 'action'), p) : 'block';
    if (action === 'off') p.add(join(path, 'action'), 'a custom rule that is off should be deleted');
    const examples = parseExamples(f, path, p);
    if (p.list.length > before || !id || !pattern) return;
    const rule: DlpRule = {
      id,
      description: optString(f, 'description', path, p) ?? `custom rule ${id}`,
      service: optString(f, 'service', path, p) ?? 'custom',
      source: optString(f, 'source', path, p) ?? 'policy file',
      pattern,
      keywords: keywords.filter((k): k is string => k !== undefined),
      severity: severity as Severity,
      action: action as DlpAction,
      examples,
    };
    checkExamples(rule, path, p);
    out.push(rule);
  });
  return out;
}

function parseExamples(f: Fields, path: string, p: Problems): DlpRule['examples'] {
  const e = present(f, 'examples') ? mapping(f.get('examples'), join(path, 'examples'), p) : null;
  const list = (key: string) =>
    (e ? (optList(e, key, join(path, 'examples'), p, true) ?? []) : []).map((x, j) => readString(x, `${path}.examples.${key}[${j}]`, p) ?? '');
  return { match: list('match'), nomatch: list('nomatch') };
}

/** A custom rule's examples run at load, as the built-in ones run in the tests. */
function checkExamples(rule: DlpRule, path: string, p: Problems): void {
  const engine = compileEngine([rule]);
  const finds = (text: string) => findMatches(engine, Buffer.from(text), 0, () => true).length > 0;
  rule.examples.match.forEach((x, j) => {
    if (!finds(x)) p.add(`${path}.examples.match[${j}]`, 'the rule does not find this example (check pattern and keywords)');
  });
  rule.examples.nomatch.forEach((x, j) => {
    if (finds(x)) p.add(`${path}.examples.nomatch[${j}]`, 'the rule finds this example');
  });
}

function parseExceptions(fields: Fields, ids: Set<string>, p: Problems): DlpException[] {
  const list = optList(fields, 'exceptions', 'dlp', p) ?? [];
  const out: DlpException[] = [];
  list.forEach((item, index) => {
    const path = `dlp.exceptions[${index}]`;
    const f = mapping(item, path, p);
    if (!f) return;
    checkKeys(f, EXCEPTION_KEYS, path, p);
    const hosts: string[] = [];
    (optList(f, 'hosts', path, p) ?? []).forEach((h, j) => {
      const text = readString(h, `${path}.hosts[${j}]`, p);
      if (text === undefined) return;
      const m = parseMatch(text);
      if (m.ok) hosts.push(m.match);
      else p.add(`${path}.hosts[${j}]`, m.problem);
    });
    if (!present(f, 'hosts')) p.add(join(path, 'hosts'), 'required: the hosts this exception applies to');
    const paths = optList(f, 'paths', path, p)?.map((x, j) => {
      const s = readString(x, `${path}.paths[${j}]`, p);
      if (s !== undefined && !s.startsWith('/')) p.add(`${path}.paths[${j}]`, 'must start with "/"');
      return s ?? '/';
    });
    const rules = (optList(f, 'rules', path, p) ?? ['*']).map((x, j) => {
      const s = readString(x, `${path}.rules[${j}]`, p) ?? '';
      const known = s === '*' || (s.endsWith('*') ? [...ids].some((id) => id.startsWith(s.slice(0, -1))) : ids.has(s));
      if (s && !known) p.add(`${path}.rules[${j}]`, `no rule matches "${s}" (see \`airlock dlp rules\`)`);
      return s;
    });
    const action = present(f, 'action') ? readAction(f.get('action'), join(path, 'action'), p) : 'off';
    out.push({ index, hosts, ...(paths ? { paths } : {}), rules, action: action ?? 'off' });
  });
  return out;
}
