// `prices` and `budgets`: what an agent may spend (docs/policy.md#budgets). Prices come only from
// the policy (no built-in table that goes stale); a budget caps requests per minute, LLM tokens
// per hour or day and estimated spend per day, for each agent it applies to on its own.
import { parseAgents, parseId } from './parse-hosts.ts';
import { Problems, checkKeys, join, mapping, optList, present, readString, type Fields } from './problems.ts';
import type { Budget, BudgetLimit, BudgetLimitKey, HostRule, Price } from './types.ts';

const WINDOW_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

/** key in the policy -> [metric, window]. */
export const LIMIT_KEYS: Record<BudgetLimitKey, [BudgetLimit['metric'], BudgetLimit['window']]> = {
  requests_per_minute: ['requests', 'minute'],
  tokens_per_hour: ['tokens', 'hour'],
  tokens_per_day: ['tokens', 'day'],
  spend_per_day: ['spend', 'day'],
};

const BUDGET_KEYS = ['name', 'agents', 'rules', ...Object.keys(LIMIT_KEYS)];
/** Model globs: letters, digits, . _ - / : @ and * (any run of characters). */
const MODEL_GLOB = /^[A-Za-z0-9._\-/:@*]{1,200}$/;
/** Spend is counted in millionths of the price's currency: a price per million tokens is then per token. */
export const SPEND_UNIT = 1_000_000;

export function parsePrices(value: unknown, p: Problems): Price[] {
  if (value === null || value === undefined) return [];
  const fields = mapping(value, 'prices', p);
  if (!fields) return [];
  const prices: Price[] = [];
  for (const [model, v] of fields) {
    const path = join('prices', model);
    if (!MODEL_GLOB.test(model)) {
      p.add(path, 'a model name or glob (letters, digits, . _ - / : @ and *)');
      continue;
    }
    const f = mapping(v, path, p);
    if (!f) continue;
    checkKeys(f, ['input', 'output'], path, p);
    const input = perMillion(f, 'input', path, p);
    const output = perMillion(f, 'output', path, p);
    if (input === undefined || output === undefined) continue;
    prices.push({ model, pattern: globRegExp(model), input, output });
  }
  return prices;
}

function perMillion(f: Fields, key: string, path: string, p: Problems): number | undefined {
  const v = f.get(key);
  if (!present(f, key)) p.add(join(path, key), 'required: the price per million tokens');
  else if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1_000_000) p.add(join(path, key), 'expected a price per million tokens (a number from 0)');
  else return v;
  return undefined;
}

function globRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`, 'i');
}

/** The price of a model: the first entry of `prices` whose glob matches it. */
export function priceOf(prices: readonly Price[], model: string | null): Price | undefined {
  if (!model) return undefined;
  for (const price of prices) if (price.pattern.test(model)) return price;
  return undefined;
}

export interface BudgetContext {
  baseDir: string;
  p: Problems;
  hosts: readonly Pick<HostRule, 'id'>[];
  prices: readonly Price[];
  /** store.body_cap_bytes: tokens are read from stored responses. */
  bodyCapBytes: number;
}

export function parseBudgets(value: unknown, ctx: BudgetContext): Budget[] {
  const { p } = ctx;
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) {
    p.add('budgets', 'expected a list');
    return [];
  }
  const names = new Map<string, string>();
  const budgets: Budget[] = [];
  value.forEach((item, index) => {
    const path = `budgets[${index}]`;
    const fields = mapping(item, path, p);
    if (!fields) return;
    checkKeys(fields, BUDGET_KEYS, path, p);
    if (!present(fields, 'name')) p.add(join(path, 'name'), 'required: the name the 429 and /metrics report');
    const name = parseId(fields, path, p, names);
    const agents = parseAgents(fields, path, ctx);
    const rules = parseRuleNames(fields, path, ctx);
    const limits: BudgetLimit[] = [];
    for (const [key, [metric, window]] of Object.entries(LIMIT_KEYS) as [BudgetLimitKey, [BudgetLimit['metric'], BudgetLimit['window']]][]) {
      if (!present(fields, key)) continue;
      const raw = fields.get(key);
      const keyPath = join(path, key);
      if (metric === 'spend') {
        if (typeof raw !== 'number' || !Number.isFinite(raw) || raw <= 0) p.add(keyPath, 'expected an amount above 0 (in the currency of `prices`)');
        else if (ctx.prices.length === 0) p.add(keyPath, 'needs `prices`: spend is estimated from the price of each model');
        else limits.push({ key, metric, window, windowMs: WINDOW_MS[window], max: Math.round(raw * SPEND_UNIT) });
        continue;
      }
      if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 1) p.add(keyPath, 'expected a whole number of at least 1');
      else limits.push({ key, metric, window, windowMs: WINDOW_MS[window], max: raw });
    }
    if (!Object.keys(LIMIT_KEYS).some((k) => present(fields, k))) p.add(path, `set at least one of ${Object.keys(LIMIT_KEYS).join(', ')}`);
    if (limits.some((l) => l.metric !== 'requests') && ctx.bodyCapBytes === 0) {
      p.add(path, 'tokens and spend are read from stored responses: store.body_cap_bytes must not be 0');
    }
    if (name === undefined || limits.length === 0) return;
    budgets.push({ index, name, ...(agents ? { agents } : {}), ...(rules ? { rules } : {}), limits });
  });
  return budgets;
}

function parseRuleNames(fields: Fields, path: string, ctx: BudgetContext): string[] | undefined {
  const list = optList(fields, 'rules', path, ctx.p);
  if (!list) return undefined;
  const out: string[] = [];
  list.forEach((entry, i) => {
    const itemPath = `${path}.rules[${i}]`;
    const text = readString(entry, itemPath, ctx.p);
    if (text === undefined) return;
    if (!ctx.hosts.some((h) => h.id === text)) ctx.p.add(itemPath, `no hosts rule is named "${text}"`);
    else if (!out.includes(text)) out.push(text);
  });
  return out;
}
