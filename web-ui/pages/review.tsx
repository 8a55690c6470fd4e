/** @jsxImportSource hono/jsx */
// Reviewing what agents did and what a policy would do: the flow pane of the split list, and the
// what-if replay of a candidate policy (the same diff as `airlock policy replay`).
import type { ReplayResult } from '../../policies/replay.ts';
import type { BodyRow, FlowRow } from '../../proxy/cli/flows.ts';
import { Badge, CodeBadge, Csrf, Layout, Note, num, type PageContext, target, Time } from '../components.tsx';
import type { Explanation } from '../explain.ts';
import { FilterForm, filterQuery, type ReadFilter } from '../filters.tsx';
import type { Finding } from '../../proxy/store/reader.ts';

/** The selected flow beside the list: the decision in plain words and the way to the whole flow. */
export function FlowPane(props: { r: FlowRow; why: Explanation; findings: Finding[]; bodies: BodyRow[] }) {
  const { r, why, findings } = props;
  const t = target(r);
  return (
    <div class="pane-body" data-flow={String(r.id)}>
      <h2>
        Flow {r.id} <Badge decision={r.decision} /> {r.code && <CodeBadge code={r.code} />}
      </h2>
      <p class="requestline mono">
        {r.method ?? ''} {t.before}
        <b>{t.host}</b>
        {t.after}
      </p>
      <p>
        <strong>{why.decision}</strong>
      </p>
      {why.code && <p>{why.code}</p>}
      {r.reason && (
        <p>
          airlock said: <q>{r.reason}</q>
        </p>
      )}
      {r.error && (
        <p>
          Error: <span class="mono">{r.error}</span>
        </p>
      )}
      {why.rule && (
        <p>
          Rule <span class="mono">{why.rule.id}</span>: it {why.rule.explain}.
        </p>
      )}
      {findings.length > 0 && (
        <p>
          DLP: {findings.map((g) => `${g.rule_id} (${g.action}, ${g.location})`).join('; ')}
        </p>
      )}
      <p class="muted">
        <Time ms={r.started_at} /> · status {r.status ?? '-'} · {r.agent_user ? `agent ${r.agent_user}` : 'no agent user'} · {props.bodies.length} bod
        {props.bodies.length === 1 ? 'y' : 'ies'} stored
      </p>
      <p>
        <a class="button" href={`/flows/${r.id}`}>
          Open the whole flow →
        </a>
      </p>
    </div>
  );
}

export function ReplayPage(props: {
  ctx: PageContext;
  candidate: string;
  since: string;
  result?: ReplayResult;
  problems?: string[];
  canRun: boolean;
}) {
  const r = props.result;
  return (
    <Layout ctx={props.ctx} title="Replay a policy">
      <h1>What if: replay a candidate policy</h1>
      <p class="muted">
        Every recorded flow in the window is decided again with the candidate, by the proxy's own decision code: host rules, deny rules, and DLP
        actions on the stored findings. Nothing is sent anywhere. The same diff as <code>airlock policy replay CANDIDATE.yaml</code>.
      </p>
      {!props.canRun && <Note kind="bad">Replay needs the admin role (a candidate policy may name files on this machine).</Note>}
      <form method="post" action="/replay" class="replay">
        <Csrf session={props.ctx.session!} />
        <label>
          Candidate policy (YAML; env: secrets stand in as set)
          <textarea name="candidate" spellcheck={false} required>
            {props.candidate}
          </textarea>
        </label>
        <label>
          Since
          <input name="since" value={props.since} list="times" placeholder="24h, 7d, or all" />
        </label>
        <div class="actions">
          <button type="submit" class="primary" disabled={!props.canRun}>
            Replay
          </button>
        </div>
      </form>
      {props.problems && (
        <Note kind="bad">
          The candidate has {props.problems.length} problem{props.problems.length === 1 ? '' : 's'}:
          <ul>
            {props.problems.map((p) => (
              <li class="mono">{p}</li>
            ))}
          </ul>
        </Note>
      )}
      {r && (
        <section class="replay-result" aria-labelledby="diff">
          <h2 id="diff">
            {num(r.newlyDenied)} newly denied, {num(r.newlyAllowed)} newly allowed
          </h2>
          <p>
            {num(r.flows)} flows replayed: {num(r.unchanged.allowed + r.unchanged.denied)} unchanged ({num(r.unchanged.allowed)} allowed,{' '}
            {num(r.unchanged.denied)} denied), {num(r.skipped)} not decided by the policy (bad requests, limits, placeholder and address checks).
          </p>
          {(['newly_denied', 'newly_allowed'] as const).map((change) => {
            const groups = r.groups.filter((g) => g.change === change);
            if (!groups.length) return null;
            return (
              <div class="scroll">
                <table class={`diff ${change}`}>
                  <caption>{change === 'newly_denied' ? 'Newly denied' : 'Newly allowed'}</caption>
                  <thead>
                    <tr>
                      <th>{change === 'newly_denied' ? 'Code' : 'Allowed by'}</th>
                      <th>Rule</th>
                      <th class="num">Flows</th>
                      <th>Examples</th>
                    </tr>
                  </thead>
                  <tbody>
                    {groups.map((g) => (
                      <tr>
                        <td>{g.code ? <CodeBadge code={g.code} /> : <span class="badge allow">allow</span>}</td>
                        <td class="mono">{g.rule ?? '-'}</td>
                        <td class="num">{num(g.count)}</td>
                        <td>
                          {g.examples.map((e) => (
                            <div>
                              <a href={`/flows/${e.id}`}>#{e.id}</a> <span class="mono">{e.what}</span>
                            </div>
                          ))}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            );
          })}
        </section>
      )}
      <datalist id="times">
        {['1h', '24h', '7d', '30d', 'all'].map((t) => (
          <option value={t} />
        ))}
      </datalist>
    </Layout>
  );
}

