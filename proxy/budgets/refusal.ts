// What an agent over budget is told: 429, Retry-After, and a JSON body it can act on
// (docs/policy.md#budgets). The flow is recorded as the policy's decision.
import { SPEND_UNIT } from '../../policies/parse-budgets.ts';
import type { Flow } from '../flow.ts';
import type { Refusal } from '../respond.ts';
import type { BudgetRefusal } from './budgets.ts';

const UNIT: Record<BudgetRefusal['limit'], string> = {
  requests_per_minute: 'requests per minute',
  tokens_per_hour: 'LLM tokens per hour',
  tokens_per_day: 'LLM tokens per day',
  spend_per_day: 'estimated spend per day',
};

export function budgetRefusal(a: { flow: Flow; rule: { id: string }; target: { host: string } }, g: BudgetRefusal): { refusal: Refusal; headers: Record<string, string> } {
  const spend = g.limit === 'spend_per_day';
  const max = spend ? g.max / SPEND_UNIT : g.max;
  const used = spend ? Math.round(g.used) / SPEND_UNIT : g.used;
  const resetsAt = new Date(g.resetsAt).toISOString();
  const retryAfter = Math.max(1, Math.ceil((g.resetsAt - Date.now()) / 1000));
  const reason = `budget ${g.budget} allows ${max} ${UNIT[g.limit]} for this agent and ${used} are used; it resets at ${resetsAt}`;
  Object.assign(a.flow, { decision: 'deny', status: 429, code: 'budget_exhausted', reason, budget: g.budget });
  return {
    refusal: {
      error: 'budget_exhausted',
      host: a.target.host,
      reason,
      rule: a.rule.id,
      extra: { budget: g.budget, limit: g.limit, window: g.window, max, used, resets_at: resetsAt },
    },
    headers: { 'retry-after': String(retryAfter) },
  };
}
