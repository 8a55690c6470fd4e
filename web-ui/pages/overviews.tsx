/** @jsxImportSource hono/jsx */
// Hosts and DLP findings, summarised over a time window.
import type { Config } from '../../policies/types.ts';
import { matchesNormalized } from '../../policies/hostnames.ts';
import { Badge, bytes, Layout, Note, num, type PageContext, qs, Time } from '../components.tsx';
import { FilterForm, filterQuery, type ReadFilter } from '../filters.tsx';
import type { FindingListRow, FindingRuleRow, HostRow } from '../../proxy/store/reader.ts';

export function HostsPage(props: { ctx: PageContext; f: ReadFilter; rows: HostRow[]; config?: Config; rules: string[]; instances: string[]; drafts?: Map<string, string> }) {
  const { f } = props;
  const coveredBy = (host: string) => props.config?.hosts.filter((h) => matchesNormalized(h.match, host)).map((h) => h.id) ?? [];
  const link = (extra: Record<string, string>) => `/flows${filterQuery({ ...f.values, since: f.values.since === 'all' ? undefined : f.values.since }, extra)}`;
  return (
    <Layout ctx={props.ctx} title="Hosts">
      <h1>Hosts</h1>
      <FilterForm action="/hosts" values={f.values} rules={props.rules} instances={props.instances} compact />
      {f.error && <Note kind="bad">Filter not applied: {f.error}</Note>}
      <p class="muted">
        Every host agents reached for {f.values.since === 'all' ? 'in the whole store' : `in the last ${f.values.since ?? '24h'}`} (since=all for the whole store), busiest
        first, and whether the policy in force covers it.{' '}
        {props.drafts ? (
          <span>Hosts the policy does not cover have a draft rule below, from their flows (review it before use).</span>
        ) : (
          <a href={`/hosts${filterQuery(f.values, { drafts: '1' })}`}>Draft rules for the hosts the policy does not cover</a>
        )}
      </p>
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th>Host</th>
              <th>Policy now</th>
              <th class="num">Flows</th>
              <th class="num">Allow</th>
              <th class="num">Would deny</th>
              <th class="num">Deny</th>
              <th class="num">Refuse</th>
              <th class="num">Error</th>
              <th class="num">Sent</th>
              <th class="num">Received</th>
              <th>Last seen (UTC)</th>
            </tr>
          </thead>
          <tbody>
            {props.rows.length === 0 && (
              <tr>
                <td colspan={11} class="muted">
                  No flows in this window.
                </td>
              </tr>
            )}
            {props.rows.map((h) => {
              const rules = coveredBy(h.host);
              return (
                <tr>
                  <td class="mono">
                    <a href={link({ host: h.host })}>{h.host}</a>
                  </td>
                  <td>
                    {rules.length ? (
                      rules.map((id) => (
                        <>
                          <a class="mono" href={`/policy#rule-${encodeURIComponent(id)}`}>
                            {id}
                          </a>{' '}
                        </>
                      ))
                    ) : (
                      <>
                        <span class="muted">not in the policy</span>
                        {props.drafts?.get(h.host) && (
                          <details class="draft">
                            <summary>add to policy (draft)</summary>
                            <pre class="draft">{`hosts:\n${props.drafts.get(h.host)}`}</pre>
                          </details>
                        )}
                      </>
                    )}
                  </td>
                  <td class="num">{num(h.n)}</td>
                  <td class="num">{h.allow ? <a href={link({ host: h.host, decision: 'allow' })}>{num(h.allow)}</a> : '0'}</td>
                  <td class="num">{h.would_deny ? <a href={link({ host: h.host, decision: 'would_deny' })}>{num(h.would_deny)}</a> : '0'}</td>
                  <td class="num">{h.deny ? <a href={link({ host: h.host, decision: 'deny' })}>{num(h.deny)}</a> : '0'}</td>
                  <td class="num">{h.refuse ? <a href={link({ host: h.host, decision: 'refuse' })}>{num(h.refuse)}</a> : '0'}</td>
                  <td class="num">{h.error ? <a href={link({ host: h.host, decision: 'error' })}>{num(h.error)}</a> : '0'}</td>
                  <td class="num">{bytes(h.up)}</td>
                  <td class="num">{bytes(h.down)}</td>
                  <td class="nowrap">
                    <Time ms={h.last} short />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </Layout>
  );
}

export function FindingsPage(props: {
  ctx: PageContext;
  f: ReadFilter;
  rule: string | undefined;
  rules: FindingRuleRow[];
  list: FindingListRow[];
  older: number | null;
  dlpWords: (id: string) => string | undefined;
  policyRules: string[];
  instances: string[];
}) {
  const { f } = props;
  return (
    <Layout ctx={props.ctx} title="Findings">
      <h1>DLP findings</h1>
      <FilterForm action="/findings" values={f.values} rules={props.policyRules} instances={props.instances} compact />
      {f.error && <Note kind="bad">Filter not applied: {f.error}</Note>}
      <h2>By rule</h2>
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th>DLP rule</th>
              <th>What it finds</th>
              <th class="num">Findings</th>
              <th class="num">Flows</th>
              <th>Actions taken</th>
              <th>Last (UTC)</th>
            </tr>
          </thead>
          <tbody>
            {props.rules.length === 0 && (
              <tr>
                <td colspan={6} class="muted">
                  No findings for these flows.
                </td>
              </tr>
            )}
            {props.rules.map((g) => (
              <tr class={props.rule === g.rule_id ? 'hit' : undefined}>
                <td class="mono">
                  <a href={`/findings${filterQuery(f.values, { rule_id: g.rule_id })}`}>{g.rule_id}</a>
                </td>
                <td>{props.dlpWords(g.rule_id) ?? ''}</td>
                <td class="num">{num(g.n)}</td>
                <td class="num">{num(g.flows)}</td>
                <td>{g.actions}</td>
                <td class="nowrap">
                  <Time ms={g.last} short />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>
        Newest findings{props.rule ? ` of ${props.rule}` : ''} {props.rule && <a href={`/findings${filterQuery(f.values)}`}>(all rules)</a>}
      </h2>
      <div class="scroll">
        <table class="flows">
          <thead>
            <tr>
              <th>Time (UTC)</th>
              <th>Flow</th>
              <th>Where</th>
              <th>DLP rule</th>
              <th>Location</th>
              <th>Action</th>
              <th>Preview (masked)</th>
            </tr>
          </thead>
          <tbody>
            {props.list.length === 0 && (
              <tr>
                <td colspan={7} class="muted">
                  None.
                </td>
              </tr>
            )}
            {props.list.map((g) => (
              <tr data-href={`/flows/${g.flow_id}`}>
                <td class="nowrap">
                  <a class="open" href={`/flows/${g.flow_id}`}>
                    <Time ms={g.started_at} short />
                  </a>
                </td>
                <td>
                  <Badge decision={g.decision} /> {g.flow_id}
                </td>
                <td class="url">
                  {g.method ?? ''} <span class="host">{g.host ?? '-'}</span>
                  {g.path ?? ''}
                </td>
                <td class="mono">{g.rule_id}</td>
                <td class="mono">{g.location}</td>
                <td>{g.action}</td>
                <td class="mono">{g.preview !== null ? <mark>{g.preview}</mark> : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <nav class="pager" aria-label="Pages">
        {props.older !== null && (
          <a rel="next" href={`/findings${filterQuery(f.values, { rule_id: props.rule, before: props.older })}`}>
            Older →
          </a>
        )}
      </nav>
    </Layout>
  );
}

export { qs };
