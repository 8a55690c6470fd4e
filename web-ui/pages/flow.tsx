/** @jsxImportSource hono/jsx */
// One flow: the decision in plain words, the timeline, DLP findings, LLM fields, then the request
// and the response with their headers and bodies.
import type { Child } from 'hono/jsx';
import type { BodyRow, FlowRow } from '../../proxy/cli/flows.ts';
import { headerPairs, llmTools } from '../../proxy/cli/flows.ts';
import { BodyView, Highlighted } from '../body.tsx';
import { Timeline } from '../charts.tsx';
import { Badge, bytes, Layout, ms, type PageContext, target, Time } from '../components.tsx';
import type { Explanation } from '../explain.ts';
import type { Finding } from '../../proxy/store/reader.ts';

/** "request", "response" or "other": where a finding's location points. */
export function findingSide(location: string): 'request' | 'response' | 'other' {
  // The DLP scanner writes `request body@N via json>base64`, `response body@N`, `header:NAME@N`
  // (request headers), `query@N via url`, `path@N`.
  const l = location.toLowerCase();
  if (l.startsWith('response')) return 'response';
  if (/^(request|header|query|path|url)/.test(l)) return 'request';
  return 'other';
}

/** Whether a finding's location names this header (tokens of the location, compared case-insensitively). */
function namesHeader(location: string, header: string): boolean {
  const tokens = location.toLowerCase().split(/[^a-z0-9_-]+/);
  return /header/i.test(location) && !/^response/i.test(location) && tokens.includes(header.toLowerCase());
}

function FindingsTable(props: { findings: Finding[]; dlpWords: (id: string) => string | undefined }) {
  return (
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th>Rule</th>
            <th>What it finds</th>
            <th>Where</th>
            <th>Action</th>
            <th>Preview (masked)</th>
          </tr>
        </thead>
        <tbody>
          {props.findings.map((g) => (
            <tr class="hit">
              <td class="mono">
                <a href={`/findings?rule_id=${encodeURIComponent(g.rule_id)}`}>{g.rule_id}</a>
              </td>
              <td>{props.dlpWords(g.rule_id) ?? ''}</td>
              <td class="mono">{g.location}</td>
              <td>{g.action}</td>
              <td class="mono">{g.preview !== null ? <mark>{g.preview}</mark> : <span class="muted">none</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Headers(props: { json: string | null; injected: string[]; findings: Finding[]; label: string }) {
  const pairs = headerPairs(props.json);
  if (!pairs.length) return <p class="muted">No headers stored.</p>;
  return (
    <div class="scroll">
      <table class="headers" aria-label={props.label}>
        <tbody>
          {pairs.map((h) => {
            const injected = props.injected.includes(h.name.toLowerCase());
            const hit = props.findings.some((g) => namesHeader(g.location, h.name));
            return (
              <tr class={hit ? 'hit' : injected ? 'injected' : undefined} title={injected ? 'airlock set this header from a secret; the value is never stored' : undefined}>
                <td>{h.name}</td>
                <td>
                  <Highlighted text={h.value} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function requestLine(r: FlowRow): string {
  const t = target(r);
  if (!r.method) return `${t.host}${t.after}`;
  return `${r.method} ${t.before}${t.host}${t.after}`;
}

export function FlowPage(props: {
  ctx: PageContext;
  r: FlowRow;
  bodies: BodyRow[];
  findings: Finding[];
  why: Explanation;
  nav: { older: number | null; newer: number | null };
  dlpWords: (id: string) => string | undefined;
  /** An LLM call as a conversation, its session turn, MCP calls (pages/flow-llm.tsx). */
  llm?: Child;
}) {
  const { r, why, findings } = props;
  const injected: string[] = r.injected ? (JSON.parse(r.injected) as string[]).map((n) => n.toLowerCase()) : [];
  const req = props.bodies.find((b) => b.direction === 'request');
  const res = props.bodies.find((b) => b.direction === 'response');
  const side = (s: 'request' | 'response') => findings.filter((g) => findingSide(g.location) === s);
  const other = findings.filter((g) => findingSide(g.location) === 'other');
  const tools = llmTools(r);
  const upstream = r.decision === 'allow' || r.decision === 'error' || r.ttfb_ms !== null;
  const admitted = r.decision === 'allow' || r.decision === 'error' || r.decision === 'would_deny';
  const noBody = admitted ? 'No body stored (none was sent, or body capture is off).' : 'No body: airlock does not read the body of a request it does not admit.';
  const noResponse = admitted || r.ttfb_ms !== null ? noBody : 'No response: nothing was sent upstream.';
  // DLP stopped the request in its body: what was released before the block is stored (redacted); the rest never left.
  const bodyStop = r.code === 'dlp_blocked' ? findings.find((g) => g.action === 'block' && /^request body/i.test(g.location)) : undefined;
  return (
    <Layout ctx={props.ctx} title={`Flow ${r.id}`}>
      <nav class="pager" aria-label="Flow navigation">
        <a href="/flows">← All flows</a>
        {props.nav.newer !== null && (
          <a rel="prev" href={`/flows/${props.nav.newer}`}>
            Newer flow
          </a>
        )}
        {props.nav.older !== null && (
          <a rel="next" href={`/flows/${props.nav.older}`}>
            Older flow
          </a>
        )}
        <span class="spacer"></span>
        <span>
          Export:{' '}
          <a href={`/export?format=har&after=${r.id - 1}&limit=1`} download>
            HAR
          </a>{' '}
          ·{' '}
          <a href={`/export?format=jsonl&after=${r.id - 1}&limit=1`} download>
            JSONL
          </a>
        </span>
      </nav>
      <h1>
        Flow {r.id} <Badge decision={r.decision} /> {r.status !== null && <span class="muted">{r.status}</span>}
      </h1>
      <p class="requestline">{requestLine(r)}</p>
      <div class="summary">
        <section class={`card decision ${r.decision}`} aria-labelledby="why">
          <h2 id="why">Decision</h2>
          <p>
            <strong>{why.decision}</strong>
          </p>
          {why.code && (
            <p>
              <span class="mono">{r.code}</span>: {why.code}
            </p>
          )}
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
              Rule{' '}
              <a class="mono" href={`/policy#rule-${encodeURIComponent(why.rule.id)}`}>
                {why.rule.id}
              </a>{' '}
              {r.decision === 'allow' || r.decision === 'error' || why.dlp ? 'allowed it' : 'was the closest rule'}: it {why.rule.explain}
              {why.dlp && r.decision !== 'allow' ? '; DLP stopped it all the same.' : '.'}
            </p>
          )}
          {!why.rule && r.rule_id && (
            <p>
              Rule <span class="mono">{r.rule_id}</span>.
            </p>
          )}
          {why.ruleGone && <p class="muted">{why.ruleGone}</p>}
          {why.nowCovered.length > 0 && (
            <p class="muted">
              The policy in force now covers this host:{' '}
              {why.nowCovered.map((h) => (
                <>
                  <span class="mono">{h.id}</span> ({h.explain}){' '}
                </>
              ))}
            </p>
          )}
          {findings.length > 0 && (
            <p>
              DLP: {findings.length} finding{findings.length === 1 ? '' : 's'} ({[...new Set(findings.map((g) => `${g.rule_id} → ${g.action}`))].join(', ')}).
            </p>
          )}
        </section>
        <section class="card" aria-labelledby="timeline">
          <h2 id="timeline">Timeline</h2>
          <Timeline ttfb={r.ttfb_ms} total={r.total_ms} upstream={upstream} />
          {upstream && r.total_ms !== null && (
            <div class="legend" aria-hidden="true">
              <span>
                <i class="up"></i>waiting for the upstream
              </span>
              <span>
                <i class="down"></i>receiving
              </span>
            </div>
          )}
          <table class="kv">
            <tbody>
              <tr>
                <th>Started</th>
                <td>
                  <Time ms={r.started_at} />
                </td>
              </tr>
              <tr>
                <th>First response byte</th>
                <td>{ms(r.ttfb_ms)}</td>
              </tr>
              <tr>
                <th>Complete</th>
                <td>{ms(r.total_ms)}</td>
              </tr>
              <tr>
                <th>Bytes</th>
                <td>
                  request {bytes(r.bytes_up)}, response {bytes(r.bytes_down)}
                </td>
              </tr>
            </tbody>
          </table>
        </section>
      </div>

      {findings.length > 0 && (
        <section class="card findings" aria-labelledby="dlp">
          <h2 id="dlp">DLP findings</h2>
          <FindingsTable findings={findings} dlpWords={props.dlpWords} />
        </section>
      )}

      {r.llm_provider && (
        <section aria-labelledby="llm">
          <h2 id="llm">LLM call</h2>
          <div class="card">
            <table class="kv">
              <tbody>
                <tr>
                  <th>Provider</th>
                  <td>{r.llm_provider}</td>
                </tr>
                <tr>
                  <th>Model</th>
                  <td class="mono">{r.llm_model ?? '-'}</td>
                </tr>
                <tr>
                  <th>Tokens</th>
                  <td>
                    {r.llm_input_tokens ?? '-'} in, {r.llm_output_tokens ?? '-'} out
                  </td>
                </tr>
                <tr>
                  <th>Stop reason</th>
                  <td class="mono">{r.llm_stop_reason ?? '-'}</td>
                </tr>
                <tr>
                  <th>Tools</th>
                  <td class="mono">{tools.length ? tools.join(', ') : '-'}</td>
                </tr>
              </tbody>
            </table>
          </div>
        </section>
      )}

      {props.llm}

      <section aria-labelledby="conn">
        <h2 id="conn">Connection</h2>
        <div class="card">
          <table class="kv">
            <tbody>
              <tr>
                <th>Flow id</th>
                <td class="mono">{r.flow_id}</td>
              </tr>
              <tr>
                <th>Instance</th>
                <td class="mono">{r.instance ?? <span class="muted">not recorded</span>}</td>
              </tr>
              <tr>
                <th>Entry</th>
                <td>
                  {r.entry} on <span class="mono">{r.listener}</span>
                </td>
              </tr>
              <tr>
                <th>Client</th>
                <td class="mono">{r.client}</td>
              </tr>
              <tr>
                <th>Agent</th>
                <td>{r.agent_user ?? <span class="muted">none</span>}</td>
              </tr>
              <tr>
                <th>Protocol</th>
                <td>{r.protocol}</td>
              </tr>
              <tr>
                <th>Injected headers</th>
                <td class="mono">{injected.length ? injected.join(', ') : <span class="muted">none</span>}</td>
              </tr>
              <tr>
                <th>Hash</th>
                <td class="mono">{r.hash ?? '-'}</td>
              </tr>
              <tr>
                <th>Previous hash</th>
                <td class="mono">{r.prev_hash || '-'}</td>
              </tr>
            </tbody>
          </table>
        </div>
      </section>

      {other.length > 0 && (
        <section>
          <h2>Findings elsewhere</h2>
          <FindingsTable findings={other} dlpWords={props.dlpWords} />
        </section>
      )}

      {(['request', 'response'] as const).map((dir) => (
        <section aria-labelledby={`${dir}-h`}>
          <h2 id={`${dir}-h`}>{dir === 'request' ? 'Request' : 'Response'}</h2>
          {side(dir).length > 0 && <FindingsTable findings={side(dir)} dlpWords={props.dlpWords} />}
          <h3>Headers</h3>
          <Headers
            json={dir === 'request' ? r.request_headers : r.response_headers}
            injected={dir === 'request' ? injected : []}
            findings={side(dir)}
            label={`${dir} headers`}
          />
          <h3>Body</h3>
          {dir === 'request' && bodyStop ? (
            <>
              {req && <BodyView b={req} direction={dir} flowId={r.id} />}
              <p class="dlp-stop" role="note">
                <span class="code k-exfil">⚠ DLP stopped the body here</span> {req ? 'after the part shown above' : 'before any of it was released'}: rule{' '}
                <span class="mono">{bodyStop.rule_id}</span> matched <mark>{bodyStop.preview ?? '(no preview)'}</mark> at{' '}
                <span class="mono">{bodyStop.location}</span>. Nothing from there on was sent upstream or stored.
              </p>
            </>
          ) : (
            <BodyView b={dir === 'request' ? req : res} direction={dir} flowId={r.id} note={dir === 'request' ? noBody : noResponse} />
          )}
        </section>
      ))}
    </Layout>
  );
}
