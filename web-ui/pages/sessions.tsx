/** @jsxImportSource hono/jsx */
// Sessions (docs/ui.md#sessions): an agent's LLM conversation, turn by turn, with what it did
// between the turns (the hosts it reached, what was denied, DLP findings); one turn as a
// conversation with what is new in it marked.
import type { Child } from 'hono/jsx';
import { Badge, Layout, ms, Note, num, type PageContext, qs, target, Time } from '../components.tsx';
import type { Conversation } from '../conversation.ts';
import type { BetweenRow, SessionRow, TurnRow } from '../../proxy/store/llm-queries.ts';
import { ConversationView } from './conversation.tsx';

export interface SessionFilter {
  agent?: string;
  since?: string;
}

function SessionFilterForm(props: { f: SessionFilter; agents: string[] }) {
  return (
    <form class="filters" method="get" action="/sessions" role="search">
      <label>
        Agent
        <input name="agent" value={props.f.agent ?? ''} list="agent-names" autocomplete="off" spellcheck={false} />
      </label>
      <datalist id="agent-names">
        {props.agents.map((a) => (
          <option value={a} />
        ))}
      </datalist>
      <label>
        Active since
        <select name="since">
          {['', '1h', '24h', '7d', '30d'].map((s) => (
            <option value={s} selected={(props.f.since ?? '') === s}>
              {s || 'any time'}
            </option>
          ))}
        </select>
      </label>
      <button type="submit">Show</button>
    </form>
  );
}

export function duration(fromMs: number, toMs: number): string {
  const s = Math.max(0, Math.round((toMs - fromMs) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function List(props: { items: string[]; max?: number }): Child {
  const max = props.max ?? 6;
  if (props.items.length === 0) return <span class="muted">none</span>;
  return (
    <>
      {props.items.slice(0, max).map((t, i) => (
        <>
          {i > 0 && ', '}
          <code>{t}</code>
        </>
      ))}
      {props.items.length > max && <span class="muted"> and {props.items.length - max} more</span>}
    </>
  );
}

export function SessionsPage(props: { ctx: PageContext; f: SessionFilter; rows: SessionRow[]; older: number | null; agents: string[]; error?: string }) {
  return (
    <Layout ctx={props.ctx} title="Sessions">
      <h1>Sessions</h1>
      <p class="muted">An agent's conversation with an LLM: calls whose messages extend the previous call's, with what the agent did between them.</p>
      <SessionFilterForm f={props.f} agents={props.agents} />
      {props.error && <Note kind="bad">Filter not applied: {props.error}</Note>}
      <div class="scroll">
        <table class="sessions">
          <thead>
            <tr>
              <th>Session</th>
              <th>Agent</th>
              <th>Model</th>
              <th class="num">Turns</th>
              <th class="num">Tokens in / out</th>
              <th>Tools used</th>
              <th>Hosts between turns</th>
              <th class="num">Denials</th>
              <th class="num">Findings</th>
              <th>Started (UTC)</th>
              <th class="num">Duration</th>
            </tr>
          </thead>
          <tbody>
            {props.rows.length === 0 && (
              <tr>
                <td colspan={11} class="muted">
                  No sessions. LLM calls appear here once recorded (bodies must be stored: store.body_cap_bytes above 0).
                </td>
              </tr>
            )}
            {props.rows.map((s) => (
              <tr data-id={String(s.id)} data-href={`/sessions/${s.id}`}>
                <td>
                  <a class="open" href={`/sessions/${s.id}`}>
                    #{s.id}
                  </a>
                </td>
                <td class="agent">
                  <a href={`/agents${qs({ agent: s.agent })}`}>{s.agent}</a>
                </td>
                <td class="model">
                  <List items={s.models} max={2} />
                </td>
                <td class="num">{num(s.turns)}</td>
                <td class="num">
                  {num(s.tokens_in)} / {num(s.tokens_out)}
                </td>
                <td>
                  <List items={s.tools} />
                </td>
                <td>
                  <List items={s.hosts.map((h) => h.host)} max={3} />
                </td>
                <td class="num">{s.denials ? <span class="badge deny">{num(s.denials)}</span> : '0'}</td>
                <td class="num">{s.findings ? <span class="badge finding">{num(s.findings)}</span> : '0'}</td>
                <td class="nowrap">
                  <Time ms={s.started_at} short />
                </td>
                <td class="num nowrap">{duration(s.started_at, s.ended_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <nav class="pager" aria-label="Pages">
        {props.older !== null && (
          <a rel="next" href={`/sessions${qs({ ...props.f, before: props.older })}`}>
            Older →
          </a>
        )}
      </nav>
    </Layout>
  );
}

type Step = { kind: 'turn'; t: TurnRow } | { kind: 'flow'; b: BetweenRow };

export function SessionPage(props: { ctx: PageContext; s: SessionRow; turns: TurnRow[]; between: BetweenRow[] }) {
  const { s } = props;
  const steps: Step[] = [...props.turns.map((t): Step => ({ kind: 'turn', t })), ...props.between.map((b): Step => ({ kind: 'flow', b }))].sort(
    (a, b) => (a.kind === 'turn' ? a.t.flow_id : a.b.id) - (b.kind === 'turn' ? b.t.flow_id : b.b.id),
  );
  return (
    <Layout ctx={props.ctx} title={`Session ${s.id}`}>
      <nav class="pager" aria-label="Session navigation">
        <a href="/sessions">← All sessions</a>
        <span class="spacer"></span>
        <span>
          Export:{' '}
          <a href={`/sessions/${s.id}/har`} download>
            HAR
          </a>
        </span>
      </nav>
      <h1>
        Session {s.id} <span class="muted">of</span> {s.agent}
      </h1>
      <div class="card">
        <table class="kv session-summary">
          <tbody>
            <tr>
              <th>Agent</th>
              <td>
                <a href={`/agents${qs({ agent: s.agent })}`}>{s.agent}</a>
              </td>
            </tr>
            <tr>
              <th>Provider, model</th>
              <td>
                {s.provider}, <List items={s.models} />
              </td>
            </tr>
            <tr>
              <th>Turns</th>
              <td>{num(s.turns)}</td>
            </tr>
            <tr>
              <th>Tokens</th>
              <td>
                {num(s.tokens_in)} in, {num(s.tokens_out)} out
              </td>
            </tr>
            <tr>
              <th>Tools used</th>
              <td>
                <List items={s.tools} max={50} />
              </td>
            </tr>
            <tr>
              <th>Hosts between turns</th>
              <td>{s.hosts.length ? s.hosts.map((h, i) => <>{i > 0 && ', '}<code>{h.host}</code> ({num(h.n)})</>) : <span class="muted">none</span>}</td>
            </tr>
            <tr>
              <th>Denials, findings</th>
              <td>
                {num(s.denials)} denied, {num(s.findings)} DLP finding{s.findings === 1 ? '' : 's'}
              </td>
            </tr>
            <tr>
              <th>Time</th>
              <td>
                <Time ms={s.started_at} /> for {duration(s.started_at, s.ended_at)}
              </td>
            </tr>
          </tbody>
        </table>
      </div>
      <h2>Turns and what happened between them</h2>
      <div class="scroll">
        <table class="timeline">
          <thead>
            <tr>
              <th>Time (UTC)</th>
              <th>Step</th>
              <th>What</th>
              <th class="num">Tokens in / out</th>
              <th>Stop / decision</th>
              <th>Tools called</th>
              <th class="num">Findings</th>
            </tr>
          </thead>
          <tbody>
            {steps.map((st) =>
              st.kind === 'turn' ? (
                <tr class="turn" data-href={`/sessions/${s.id}/turns/${st.t.turn}`}>
                  <td class="nowrap">
                    <Time ms={st.t.started_at} short />
                  </td>
                  <td>
                    <a class="open" href={`/sessions/${s.id}/turns/${st.t.turn}`}>
                      Turn {st.t.turn}
                    </a>
                  </td>
                  <td>
                    <span class="mono">{st.t.llm_model ?? '-'}</span>{' '}
                    <span class="muted">
                      {num(st.t.messages - st.t.new_from)} new of {num(st.t.messages)} messages
                    </span>
                  </td>
                  <td class="num">
                    {st.t.llm_input_tokens ?? '-'} / {st.t.llm_output_tokens ?? '-'}
                  </td>
                  <td>
                    {st.t.decision === 'allow' ? <span class="mono">{st.t.llm_stop_reason ?? '-'}</span> : <Badge decision={st.t.decision} />}
                    {st.t.status !== null && st.t.status >= 400 && <span class="muted"> {st.t.status}</span>}
                  </td>
                  <td>
                    <List items={st.t.tools} />
                  </td>
                  <td class="num">{st.t.findings ? <span class="badge finding">{st.t.findings}</span> : ''}</td>
                </tr>
              ) : (
                <tr class="between" data-href={`/flows/${st.b.id}`}>
                  <td class="nowrap">
                    <Time ms={st.b.started_at} short />
                  </td>
                  <td>
                    <a href={`/flows/${st.b.id}`}>flow {st.b.id}</a>
                  </td>
                  <td class="url">
                    {st.b.method ?? ''} <span class="host">{target(st.b).host}</span>
                    {target(st.b).after}
                    {st.b.mcp_tool && (
                      <>
                        {' '}
                        <span class="muted">MCP</span> <code>{st.b.mcp_tool}</code>
                      </>
                    )}
                  </td>
                  <td class="num"></td>
                  <td>
                    <Badge decision={st.b.decision} /> {st.b.code && <span class="mono muted">{st.b.code}</span>}
                  </td>
                  <td></td>
                  <td class="num">{st.b.findings ? <span class="badge finding">{st.b.findings}</span> : ''}</td>
                </tr>
              ),
            )}
          </tbody>
        </table>
      </div>
    </Layout>
  );
}

export function TurnPage(props: { ctx: PageContext; s: SessionRow; t: TurnRow; last: number; c: Conversation | null }) {
  const { s, t } = props;
  return (
    <Layout ctx={props.ctx} title={`Session ${s.id}, turn ${t.turn}`}>
      <nav class="pager" aria-label="Turn navigation">
        <a href={`/sessions/${s.id}`}>← Session {s.id}</a>
        {t.turn > 1 && (
          <a rel="prev" href={`/sessions/${s.id}/turns/${t.turn - 1}`}>
            Previous turn
          </a>
        )}
        {t.turn < props.last && (
          <a rel="next" href={`/sessions/${s.id}/turns/${t.turn + 1}`}>
            Next turn
          </a>
        )}
        <span class="spacer"></span>
        <a href={`/flows/${t.flow_id}`}>Flow {t.flow_id}: headers, bodies, decision</a>
      </nav>
      <h1>
        Turn {t.turn} <span class="muted">of session {s.id} ({s.agent})</span>
      </h1>
      <p>
        <Time ms={t.started_at} /> · <span class="mono">{t.llm_model ?? '-'}</span> · {t.llm_input_tokens ?? '-'} tokens in, {t.llm_output_tokens ?? '-'} out · stop{' '}
        <span class="mono">{t.llm_stop_reason ?? '-'}</span> · {ms(t.total_ms)}
        {t.decision !== 'allow' && (
          <>
            {' '}
            · <Badge decision={t.decision} /> <span class="mono">{t.code}</span>
          </>
        )}
      </p>
      {props.c ? (
        <ConversationView c={props.c} newFrom={t.new_from} title="This turn" />
      ) : (
        <Note>This call could not be read as a conversation; its bodies are on the flow's page.</Note>
      )}
    </Layout>
  );
}
