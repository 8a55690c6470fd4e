// Budgets and rate limits per agent (docs/policy.md#budgets): checked on every admitted request
// of every entry path, counted per agent (its Proxy-Authorization user, else `listener:ADDR`) in
// fixed windows aligned to UTC minutes, hours and days.
//
// The counters live in the store (budget_counters, through the writer thread) with a view in
// memory, so they survive a restart and are shared by every airlock process writing the store:
// - requests: claimed from the store in shares (a twentieth of the limit, at least 1), each
//   claim one IMMEDIATE transaction, so all processes together never admit more than the limit;
//   between claims a request costs a counter decrement. While a claim is out the request waits.
// - tokens and spend: counted after the response (proxy/llm.ts on the stored bodies), added to the
//   store, and read back from it every second, so what other processes used is seen within about
//   a second. A response may take a budget past its limit; the next request is refused.
// The check is O(1) per budget that applies and allocates nothing unless a share must be claimed.
import { type LlmInfo } from '../llm.ts';
import { LIMIT_KEYS, priceOf } from '../../policies/parse-budgets.ts';
import type { Budget, BudgetLimit, BudgetLimitKey, Config } from '../../policies/types.ts';
import type { CounterRow, CounterStore } from '../store/writer.ts';

/** Counter order within an agent's state: one slot per limit key. */
const KEYS = Object.keys(LIMIT_KEYS) as BudgetLimitKey[];
const SLOT: Record<BudgetLimitKey, number> = Object.fromEntries(KEYS.map((k, i) => [k, i])) as Record<BudgetLimitKey, number>;
/** How often the view is refreshed from the store (what other processes used). */
const REFRESH_MS = 1000;
/** The longest window: reads go back this far. */
const DAY_MS = 86_400_000;

class Counter {
  /** Start of the window counted (ms); -1: none yet. */
  start = -1;
  /** Used in this window as far as this process knows: the store's total plus what it added since. */
  used = 0;
  /** Added by this process in this window (tokens, spend). */
  added = 0;
  /** `added` when the last read of the store was sent (what that read already includes). */
  addedAtRead = 0;
  /** Requests this process may still admit from shares it claimed. */
  lease = 0;
  /** The store granted nothing more in this window. */
  exhausted = false;
  claiming: Promise<void> | null = null;

  roll(start: number): void {
    if (this.start === start) return;
    this.start = start;
    this.used = this.added = this.addedAtRead = this.lease = 0;
    this.exhausted = false;
    this.claiming = null;
  }
}

export interface BudgetRefusal {
  budget: string;
  limit: BudgetLimitKey;
  window: BudgetLimit['window'];
  max: number;
  used: number;
  /** When the window ends (ms). */
  resetsAt: number;
}

export interface BudgetUse {
  budget: string;
  agent: string;
  limit: BudgetLimitKey;
  used: number;
  max: number;
}

export interface Budgets {
  /**
   * null: admitted (and counted); a refusal: a budget is used up; a promise of either while a
   * share of a request limit is claimed from the store.
   */
  admit(config: Config, ruleId: string, agentUser: string | undefined, listener: string, now: number): BudgetRefusal | null | Promise<BudgetRefusal | null>;
  /** Counts an LLM call's tokens (and their estimated spend) for the budgets that apply to it. */
  used(config: Config, ruleId: string | undefined, agentUser: string | undefined, listener: string, info: LlmInfo, now: number): void;
  /** Every counter of the current windows (for /metrics and the UI). */
  snapshot(config: Config, now: number): BudgetUse[];
  close(): void;
}

/** The agent a request is counted for (also sessions.cjs agentOf, and the UI's agent column). */
export function agentKey(agentUser: string | undefined, listener: string): string {
  return agentUser !== undefined && agentUser !== '' ? agentUser : listenerKey(listener);
}

const listenerKeys = new Map<string, string>();
/** `listener:ADDR`, made once per listener. */
function listenerKey(listener: string): string {
  let k = listenerKeys.get(listener);
  if (k === undefined) {
    if (listenerKeys.size > 10_000) listenerKeys.clear();
    listenerKeys.set(listener, (k = `listener:${listener}`));
  }
  return k;
}

function applies(b: Budget, ruleId: string | undefined, agentUser: string | undefined, listener: string): boolean {
  if (b.rules && (ruleId === undefined || !b.rules.includes(ruleId))) return false;
  if (!b.agents) return true;
  // A Basic user name never holds ":", so it cannot pose as `listener:...` (policies/agents.ts).
  if (agentUser !== undefined && !agentUser.includes(':') && b.agents.includes(agentUser)) return true;
  return b.agents.includes(listenerKey(listener));
}

export function createBudgets(store: CounterStore | null, now = Date.now()): Budgets {
  /** budget name -> agent -> one Counter per limit key. */
  const state = new Map<string, Map<string, Counter[]>>();
  const countersOf = (budget: string, agent: string): Counter[] => {
    let agents = state.get(budget);
    if (!agents) state.set(budget, (agents = new Map()));
    let cs = agents.get(agent);
    if (!cs) agents.set(agent, (cs = KEYS.map(() => new Counter())));
    return cs;
  };
  const windowStart = (l: BudgetLimit, t: number) => t - (t % l.windowMs);

  /** Rows of the store into the view: totals of every process, plus what this one added since the read was sent. */
  const apply = (rows: CounterRow[]) => {
    for (const [budget, agent, metric, start, total] of rows) {
      const slot = SLOT[metric as BudgetLimitKey];
      if (slot === undefined) continue;
      const c = countersOf(budget, agent)[slot];
      if (c.start !== start) {
        if (c.start > start) continue; // an older window
        c.roll(start);
      }
      c.used = metric === 'requests_per_minute' ? Math.max(c.used, total) : total + (c.added - c.addedAtRead);
    }
  };

  // What this store already counted: a restart goes on from there.
  if (store) apply(store.readNow(now - DAY_MS));
  let reading = false;
  const refresh = async () => {
    if (!store || reading || state.size === 0) return;
    reading = true;
    for (const agents of state.values()) for (const cs of agents.values()) for (const c of cs) c.addedAtRead = c.added;
    try {
      const rows = await store.read(Date.now() - DAY_MS);
      if (rows) apply(rows);
    } finally {
      reading = false;
    }
  };
  const timer = store ? setInterval(() => void refresh().catch(() => {}), REFRESH_MS) : undefined;
  timer?.unref();

  /** Claims a share of a request limit; resolves once the lease is refilled or the window is used up. */
  const claim = (budget: string, agent: string, l: BudgetLimit, c: Counter): Promise<void> => {
    const start = c.start;
    const want = Math.max(1, Math.floor(l.max / 20));
    const local = () => Math.max(0, Math.min(want, l.max - c.used));
    const granted = store ? store.claim([budget, agent, l.key, start], want, l.max) : Promise.resolve(null);
    c.claiming = granted.then(
      (g) => {
        if (c.start !== start) return; // the window rolled meanwhile
        // The store cannot be used now: this process counts on its own.
        const n = g ?? local();
        c.claiming = null;
        if (n === 0) c.exhausted = true;
        c.lease += n;
        c.used += n;
      },
      () => {
        c.claiming = null;
      },
    );
    return c.claiming;
  };

  function admit(config: Config, ruleId: string, agentUser: string | undefined, listener: string, t: number): BudgetRefusal | null | Promise<BudgetRefusal | null> {
    const budgets = config.budgets;
    if (budgets.length === 0) return null;
    let agent: string | undefined;
    // 1. Every limit that applies, without counting anything yet.
    for (const b of budgets) {
      if (!applies(b, ruleId, agentUser, listener)) continue;
      agent ??= agentKey(agentUser, listener);
      const cs = countersOf(b.name, agent);
      for (const l of b.limits) {
        const c = cs[SLOT[l.key]];
        c.roll(windowStart(l, t));
        if (l.metric !== 'requests') {
          if (c.used >= l.max) return refusal(b, l, c);
          continue;
        }
        if (c.lease > 0) continue;
        if (c.exhausted) return refusal(b, l, c);
        // No share left: claim one (or wait for the claim already out), then decide again.
        const pending = c.claiming ?? claim(b.name, agent, l, c);
        return pending.then(() => admit(config, ruleId, agentUser, listener, t));
      }
    }
    if (agent === undefined) return null;
    // 2. Admitted: each request limit's share goes down by one.
    for (const b of budgets) {
      if (!applies(b, ruleId, agentUser, listener)) continue;
      const cs = countersOf(b.name, agent);
      for (const l of b.limits) if (l.metric === 'requests') cs[SLOT[l.key]].lease--;
    }
    return null;
  }

  function refusal(b: Budget, l: BudgetLimit, c: Counter): BudgetRefusal {
    return { budget: b.name, limit: l.key, window: l.window, max: l.max, used: c.used, resetsAt: c.start + l.windowMs };
  }

  function used(config: Config, ruleId: string | undefined, agentUser: string | undefined, listener: string, info: LlmInfo, t: number): void {
    const tokens = (info.inputTokens ?? 0) + (info.outputTokens ?? 0);
    if (tokens === 0 || config.budgets.length === 0) return;
    const price = priceOf(config.prices, info.model);
    // Millionths of the currency: a price per million tokens is then a price per token.
    const spend = price ? Math.round((info.inputTokens ?? 0) * price.input + (info.outputTokens ?? 0) * price.output) : 0;
    const rows: CounterRow[] = [];
    const agent = agentKey(agentUser, listener);
    for (const b of config.budgets) {
      if (!applies(b, ruleId, agentUser, listener)) continue;
      const cs = countersOf(b.name, agent);
      for (const l of b.limits) {
        const n = l.metric === 'tokens' ? tokens : l.metric === 'spend' ? spend : 0;
        if (n === 0) continue;
        const c = cs[SLOT[l.key]];
        c.roll(windowStart(l, t));
        c.used += n;
        c.added += n;
        rows.push([b.name, agent, l.key, c.start, n]);
      }
    }
    if (rows.length && store) store.add(rows);
  }

  function snapshot(config: Config, t: number): BudgetUse[] {
    const out: BudgetUse[] = [];
    for (const b of config.budgets) {
      const agents = state.get(b.name);
      if (!agents) continue;
      for (const [agent, cs] of agents) {
        for (const l of b.limits) {
          const c = cs[SLOT[l.key]];
          out.push({ budget: b.name, agent, limit: l.key, used: c.start === windowStart(l, t) ? c.used : 0, max: l.max });
        }
      }
    }
    return out;
  }

  return { admit, used, snapshot, close: () => clearInterval(timer) };
}
