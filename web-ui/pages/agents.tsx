/** @jsxImportSource hono/jsx */
// Agents (docs/ui.md#agents): each agent over time: requests, denials and DLP findings per day,
// LLM tokens per model per day, and their estimated cost from the policy's price table (no
// built-in prices: a model the table does not name has no cost, and says so).
import { priceOf } from '../../policies/parse-budgets.ts';
import type { Price } from '../../policies/types.ts';
import { Legend, type Series, StackedBars } from '../charts.tsx';
import { Layout, Note, num, type PageContext, qs, Time } from '../components.tsx';
import type { AgentDayRow, AgentModelDayRow, AgentRow } from '../../proxy/store/llm-queries.ts';

const DAY = 86_400_000;
const SERIES_CLASSES = 8;
/** Agents drawn with plots; the table lists them all. */
const PLOTTED = 10;

export function costOf(prices: readonly Price[], model: string | null, tokensIn: number, tokensOut: number): number | null {
  const p = priceOf(prices, model);
  return p ? (tokensIn * p.input + tokensOut * p.output) / 1_000_000 : null;
}

export const money = (n: number | null): string => (n === null ? '-' : n < 0.01 && n > 0 ? n.toFixed(4) : n.toFixed(2));

export interface AgentsData {
  agents: AgentRow[];
  days: AgentDayRow[];
  models: AgentModelDayRow[];
}

function AgentPlots(props: { a: AgentRow; data: AgentsData; prices: readonly Price[]; from: number; to: number }) {
  const { a, data } = props;
  const days = data.days.filter((d) => d.agent === a.agent);
  const models = data.models.filter((m) => m.agent === a.agent);
  const names = [...new Set(models.map((m) => m.model ?? '(unknown)'))];
  const series: Series[] = names.map((n, i) => ({ key: `s${i % SERIES_CLASSES}`, label: n }));
  const keyOf = new Map(names.map((n, i) => [n, `s${i % SERIES_CLASSES}`]));
  const byDay = (rows: { day: number }[]) => [...new Set(rows.map((r) => r.day))];
  const tokens = byDay(models).map((t) => ({
    t,
    values: Object.fromEntries(models.filter((m) => m.day === t).map((m) => [keyOf.get(m.model ?? '(unknown)')!, m.tokens_in + m.tokens_out])),
  }));
  const cost = byDay(models).map((t) => ({
    t,
    values: { bar: models.filter((m) => m.day === t).reduce((s, m) => s + (costOf(props.prices, m.model, m.tokens_in, m.tokens_out) ?? 0), 0) },
  }));
  const activity = days.map((d) => ({ t: d.day, values: { allow: d.n - d.denials, deny: d.denials, refuse: d.findings } }));
  const span = { from: Math.floor(props.from / DAY) * DAY, to: props.to, bucketMs: DAY };
  return (
    <div class="charts">
      <figure>
        <StackedBars title={`LLM tokens per day by model: ${a.agent}`} buckets={tokens} series={series} {...span} />
        <Legend series={series} />
      </figure>
      <figure>
        <StackedBars title={`Estimated cost per day: ${a.agent}`} buckets={cost} series={[{ key: 'bar', label: 'estimated cost' }]} format={money} {...span} />
      </figure>
      <figure>
        <StackedBars
          title={`Requests, denials and DLP findings per day: ${a.agent}`}
          buckets={activity}
          series={[
            { key: 'allow', label: 'requests not denied' },
            { key: 'deny', label: 'denied' },
            { key: 'refuse', label: 'DLP findings' },
          ]}
          {...span}
        />
        <Legend
          series={[
            { key: 'allow', label: 'requests not denied' },
            { key: 'deny', label: 'denied' },
            { key: 'refuse', label: 'DLP findings' },
          ]}
        />
      </figure>
    </div>
  );
}

/** The agent's flows in the window: by its Proxy-Authorization user, or its listener (filter expressions, docs/ui.md). */
function flowsOf(agent: string, since: string, decision?: string): string {
  const listener = agent.startsWith('listener:') ? agent.slice('listener:'.length) : undefined;
  const q = listener === undefined ? undefined : `listener:${JSON.stringify(listener)}${decision ? ` decision:${decision}` : ''}`;
  return `/flows${qs({ since, ...(q ? { q } : { agent, ...(decision ? { decision } : {}) }) })}`;
}

export function AgentsPage(props: { ctx: PageContext; since: string; agent?: string; from: number; to: number; data: AgentsData; prices: readonly Price[]; error?: string }) {
  const { data, prices } = props;
  const costs = new Map<string, number | null>();
  for (const m of data.models) {
    const c = costOf(prices, m.model, m.tokens_in, m.tokens_out);
    const before = costs.get(m.agent);
    costs.set(m.agent, c === null ? (before ?? null) : (before ?? 0) + c);
  }
  const unpriced = [...new Set(data.models.filter((m) => m.model !== null && !priceOf(prices, m.model)).map((m) => m.model!))];
  return (
    <Layout ctx={props.ctx} title="Agents">
      <h1>Agents</h1>
      <form class="filters" method="get" action="/agents" role="search">
        <label>
          Agent
          <input name="agent" value={props.agent ?? ''} autocomplete="off" spellcheck={false} />
        </label>
        <label>
          Since
          <select name="since">
            {['24h', '7d', '30d', '90d'].map((s) => (
              <option value={s} selected={props.since === s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Show</button>
      </form>
      {props.error && <Note kind="bad">{props.error}</Note>}
      <p class="muted">
        <Time ms={props.from} /> to <Time ms={props.to} />. An agent is its Proxy-Authorization user, or the listener it came in on.
      </p>
      <div class="scroll">
        <table class="agents">
          <thead>
            <tr>
              <th>Agent</th>
              <th class="num">Requests</th>
              <th class="num">Denied</th>
              <th class="num">Would deny</th>
              <th class="num">DLP findings</th>
              <th class="num">LLM calls</th>
              <th class="num">Sessions</th>
              <th class="num">Tokens in / out</th>
              <th class="num">Estimated cost</th>
              <th>Last seen (UTC)</th>
            </tr>
          </thead>
          <tbody>
            {data.agents.length === 0 && (
              <tr>
                <td colspan={10} class="muted">
                  No flows in this window.
                </td>
              </tr>
            )}
            {data.agents.map((a) => (
              <tr data-href={`/agents${qs({ agent: a.agent, since: props.since })}`}>
                <td class="agent">
                  <a class="open" href={`/agents${qs({ agent: a.agent, since: props.since })}`}>
                    {a.agent}
                  </a>
                </td>
                <td class="num">
                  <a href={flowsOf(a.agent, props.since)}>{num(a.n)}</a>
                </td>
                <td class="num">{a.denials ? <a href={flowsOf(a.agent, props.since, 'deny')}><span class="badge deny">{num(a.denials)}</span></a> : '0'}</td>
                <td class="num">{a.would_deny ? <a href={flowsOf(a.agent, props.since, 'would_deny')}><span class="badge would_deny">{num(a.would_deny)}</span></a> : '0'}</td>
                <td class="num">{a.findings ? <span class="badge finding">{num(a.findings)}</span> : '0'}</td>
                <td class="num">{num(a.llm_calls)}</td>
                <td class="num">{a.sessions ? <a href={`/sessions${qs({ agent: a.agent })}`}>{num(a.sessions)}</a> : '0'}</td>
                <td class="num">
                  {num(a.tokens_in)} / {num(a.tokens_out)}
                </td>
                <td class="num">{money(costs.get(a.agent) ?? null)}</td>
                <td class="nowrap">
                  <Time ms={a.last} short />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {unpriced.length > 0 && (
        <Note>
          No price in the policy for {unpriced.map((m, i) => (i ? `, ${m}` : m))}: their tokens cost nothing here. Add them under <code>prices</code> (docs/policy.md#prices).
        </Note>
      )}
      {data.agents.slice(0, PLOTTED).map((a) => (
        <section aria-label={`agent ${a.agent}`} class="agent-plots">
          <h2>{a.agent}</h2>
          <AgentPlots a={a} data={data} prices={prices} from={props.from} to={props.to} />
          <details>
            <summary>Tokens and estimated cost per model per day</summary>
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th>Day (UTC)</th>
                    <th>Model</th>
                    <th class="num">Calls</th>
                    <th class="num">Tokens in / out</th>
                    <th class="num">Estimated cost</th>
                  </tr>
                </thead>
                <tbody>
                  {data.models
                    .filter((m) => m.agent === a.agent)
                    .map((m) => (
                      <tr>
                        <td>{new Date(m.day).toISOString().slice(0, 10)}</td>
                        <td class="mono">{m.model ?? '-'}</td>
                        <td class="num">{num(m.calls)}</td>
                        <td class="num">
                          {num(m.tokens_in)} / {num(m.tokens_out)}
                        </td>
                        <td class="num">{money(costOf(prices, m.model, m.tokens_in, m.tokens_out))}</td>
                      </tr>
                    ))}
                </tbody>
              </table>
            </div>
          </details>
        </section>
      ))}
      <h2 id="prices">Prices</h2>
      {prices.length === 0 ? (
        <p class="muted">The policy has no price table (prices): costs are not estimated.</p>
      ) : (
        <div class="scroll">
          <table class="prices">
            <thead>
              <tr>
                <th>Model (glob)</th>
                <th class="num">Input, per million tokens</th>
                <th class="num">Output, per million tokens</th>
              </tr>
            </thead>
            <tbody>
              {prices.map((p) => (
                <tr>
                  <td class="mono">{p.model}</td>
                  <td class="num">{p.input}</td>
                  <td class="num">{p.output}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Layout>
  );
}
