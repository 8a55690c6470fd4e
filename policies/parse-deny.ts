// The `deny` list: exceptions that win over every allow rule (policies/deny.ts), each problem
// reported with its path (`deny[0].match: ...`).
import { canonicalPath } from './deny.ts';
import { explainDeny } from './explain.ts';
import { parseAgents, parseId, parseMethods, parsePaths, parsePorts, parseRuleMatch } from './parse-hosts.ts';
import { Problems, checkKeys, mapping } from './problems.ts';
import type { DenyRule } from './types.ts';

const DENY_KEYS = ['name', 'match', 'agents', 'ports', 'methods', 'paths'];

export interface DenyContext {
  baseDir: string;
  p: Problems;
  /** Rule names already taken by `hosts` (name -> path). */
  ids: Map<string, string>;
}

export function parseDeny(value: unknown, ctx: DenyContext): DenyRule[] {
  if (value === null || value === undefined) return [];
  const { p } = ctx;
  if (!Array.isArray(value)) {
    p.add('deny', 'expected a list');
    return [];
  }
  const rules: DenyRule[] = [];
  value.forEach((item, index) => {
    const path = `deny[${index}]`;
    const fields = mapping(item, path, p);
    if (!fields) return;
    checkKeys(fields, DENY_KEYS, path, p);
    const id = parseId(fields, path, p, ctx.ids);
    // A deny rule may be as broad as it likes: "*" with paths denies them on every host.
    const match = parseRuleMatch(fields, path, p, true);
    const agents = parseAgents(fields, path, ctx);
    const ports = parsePorts(fields, path, p);
    const methods = parseMethods(fields, path, p);
    // Compared with the request's canonical path, so written the same way (lower case, no escapes).
    const paths = parsePaths(fields, path, p)?.map(canonicalPath);
    if (match === undefined) return;
    const rule: Omit<DenyRule, 'explain'> = { index, id: id ?? path, match, ...(agents ? { agents } : {}), ports, methods, paths };
    rules.push({ ...rule, explain: explainDeny(rule) });
  });
  return rules;
}
