/** @jsxImportSource hono/jsx */
// Shared pieces of every page. hono/jsx escapes every text child and attribute value; nothing in
// web-ui/ uses raw() or dangerouslySetInnerHTML, so flow content can only ever render as text.
import type { Child } from 'hono/jsx';
import { urlOf, type FlowRow } from '../proxy/cli/flows.ts';
import type { ListRow } from '../proxy/store/reader.ts';
import type { StoreStatus } from '../proxy/store/availability.ts';
import type { Session } from './sessions.ts';

export const NAV = [
  ['/flows', 'Flows'],
  ['/sessions', 'Sessions'],
  ['/agents', 'Agents'],
  ['/hosts', 'Hosts'],
  ['/findings', 'Findings'],
  ['/stats', 'Stats'],
  ['/policy', 'Policy'],
  ['/replay', 'Replay'],
  ['/ca', 'CA'],
] as const;

export interface PageContext {
  nonce: string;
  session?: Session;
  /** The nav entry to mark as current. */
  current?: string;
  /** The flow store's state: a banner on every page while it cannot write. */
  store?: StoreStatus;
}

export function Layout(props: { ctx: PageContext; title: string; children?: Child }) {
  const { ctx } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · airlock`}</title>
        <link rel="stylesheet" href="/static/ui.css" />
        <link rel="icon" href="/static/icon.svg" type="image/svg+xml" />
        <script nonce={ctx.nonce} src="/static/ui.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        {ctx.session && (
          <header class="top">
            <a class="brand" href="/flows">
              airlock <span>audit</span>
            </a>
            <nav aria-label="Sections">
              {NAV.map(([href, label]) => (
                <a href={href} aria-current={ctx.current === href ? 'page' : undefined}>
                  {label}
                </a>
              ))}
            </nav>
            <div class="who">
              <span>
                {ctx.session.name} <span class="badge role">{ctx.session.role}</span>
              </span>
              <form method="post" action="/logout">
                <Csrf session={ctx.session} />
                <button type="submit" class="link">
                  Log out
                </button>
              </form>
            </div>
          </header>
        )}
        <main id="main" tabindex={-1}>
          {ctx.session && ctx.store?.state === 'unavailable' && <StoreBanner s={ctx.store} />}
          {props.children}
        </main>
        {ctx.session && (
          <footer>
            Keys: <kbd>/</kbd> search, <kbd>j</kbd>/<kbd>k</kbd> move through rows, <kbd>Enter</kbd> open, <kbd>[</kbd>/<kbd>]</kbd> previous/next
            page or flow.
          </footer>
        )}
      </body>
    </html>
  );
}

/** While the store cannot write, every page says so: what, since when, and what airlock does meanwhile. */
function StoreBanner(props: { s: StoreStatus }) {
  const { s } = props;
  const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
  return (
    <div class="note bad store-banner" role="alert">
      <strong>The flow store cannot write</strong> ({s.kind}: {s.reason}){s.since && <> since <Time ms={Date.parse(s.since)} /></>}.{' '}
      {s.on_unavailable === 'refuse'
        ? 'airlock refuses new requests (503) until it can record them.'
        : 'airlock is serving requests UNRECORDED (store.on_unavailable: serve).'}{' '}
      {s.backlog} flow{s.backlog === 1 ? '' : 's'} wait in memory to be written; {dropped} dropped since start.
    </div>
  );
}

export function Csrf(props: { session: Session }) {
  return <input type="hidden" name="csrf" value={props.session.csrf} />;
}

export function Badge(props: { decision: string }) {
  const known = ['allow', 'would_deny', 'deny', 'refuse', 'error'].includes(props.decision);
  return <span class={`badge ${known ? props.decision : ''}`}>{props.decision === 'would_deny' ? 'would deny' : props.decision}</span>;
}

/**
 * What kind of stop a code is, for its colour: exfil (a credential or secret on its way out:
 * placeholder sent elsewhere, DLP), policy (the host rules or deny rules), upstream (the far end
 * failed), limit (the request itself was bad or too slow/large).
 */
export function codeKind(code: string): 'exfil' | 'policy' | 'upstream' | 'limit' {
  if (code === 'placeholder_exfiltration' || code === 'dlp_blocked' || code === 'decompression_bomb' || code === 'unscannable_encoding') return 'exfil';
  if (code.endsWith('_not_allowed') || code.endsWith('_by_rule') || code === 'mcp_tool_denied') return 'policy';
  if (code.startsWith('upstream_') || code === 'dns_failed' || code === 'client_aborted') return 'upstream';
  return 'limit';
}

/** A flow's code, styled by its kind; exfiltration attempts stand out. */
export function CodeBadge(props: { code: string }) {
  const kind = codeKind(props.code);
  return (
    <span class={`code k-${kind}`} title={kind === 'exfil' ? 'a secret or credential on its way out, stopped' : undefined}>
      {kind === 'exfil' ? '⚠ ' : ''}
      {props.code}
    </span>
  );
}

export function Time(props: { ms: number; short?: boolean }) {
  const iso = new Date(props.ms).toISOString();
  const text = props.short ? iso.slice(5, 23).replace('T', ' ') : iso.replace('T', ' ').replace('Z', ' UTC');
  return <time datetime={iso}>{text}</time>;
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) (v /= 1024), i++;
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  if (n < 10) return `${n.toFixed(1)} ms`;
  if (n < 10_000) return `${Math.round(n)} ms`;
  return `${(n / 1000).toFixed(1)} s`;
}

export function num(n: number): string {
  return n.toLocaleString('en-US');
}

/** What a list row asked for, as text: URL, "CONNECT host:port", or the host alone. */
export function target(r: Pick<FlowRow, 'method' | 'scheme' | 'host' | 'port' | 'path' | 'query'>): { before: string; host: string; after: string } {
  if (!r.host) return { before: '', host: '-', after: '' };
  const host = r.host.includes(':') ? `[${r.host}]` : r.host;
  if (!r.method || r.method === 'CONNECT' || r.path === null) return { before: '', host, after: r.port ? `:${r.port}` : '' };
  const url = urlOf(r as FlowRow);
  const at = url.indexOf(host);
  return { before: url.slice(0, at), host, after: url.slice(at + host.length) };
}

/** One row of the flows table; also what the live list receives, so both render the same way. */
export function FlowRowView(props: { r: ListRow; selected?: boolean; instance?: boolean }) {
  const { r } = props;
  const t = target(r);
  const href = `/flows/${r.id}`;
  return (
    <tr
      data-id={String(r.id)}
      data-href={href}
      class={[r.code && codeKind(r.code) === 'exfil' ? 'exfil' : '', props.selected ? 'selected' : ''].filter(Boolean).join(' ') || undefined}
      aria-selected={props.selected ? 'true' : undefined}
    >
      <td class="nowrap">
        <a class="open" href={href}>
          <Time ms={r.started_at} short />
        </a>
      </td>
      <td class="decision">
        <Badge decision={r.decision} />
        {r.code && (
          <>
            {' '}
            <CodeBadge code={r.code} />
          </>
        )}
        {r.findings > 0 && (
          <>
            {' '}
            <span class="badge finding" title="DLP findings">
              DLP {r.findings}
            </span>
          </>
        )}
      </td>
      <td class="num opt3">{r.status ?? '-'}</td>
      <td class="mono">{r.method ?? '-'}</td>
      <td class="url">
        {t.before}
        <span class="host">{t.host}</span>
        {t.after}
      </td>
      <td class="opt2 mono">{r.rule_id ?? ''}</td>
      <td class="opt agent" title={r.agent_user ?? undefined}>
        {r.agent_user ?? ''}
      </td>
      {props.instance && (
        <td class="opt instance" title={r.instance ?? undefined}>
          {r.instance ?? ''}
        </td>
      )}
      <td class="opt num">{bytes(r.bytes_up + r.bytes_down)}</td>
      <td class="opt num">{ms(r.total_ms)}</td>
      <td class="opt model">{r.llm_model ?? ''}</td>
    </tr>
  );
}

export function FlowTable(props: { rows: ListRow[]; live?: string; after?: number; selected?: number; instance?: boolean }) {
  return (
    <div class="scroll">
      <table class="flows" data-live={props.live} data-after={props.after === undefined ? undefined : String(props.after)}>
        <thead>
          <tr>
            <th>Time (UTC)</th>
            <th>Decision / code</th>
            <th class="num opt3">Status</th>
            <th>Method</th>
            <th>URL</th>
            <th class="opt2">Rule</th>
            <th class="opt">Agent</th>
            {props.instance && <th class="opt">Instance</th>}
            <th class="opt num">Bytes</th>
            <th class="opt num">Time</th>
            <th class="opt">LLM model</th>
          </tr>
        </thead>
        <tbody>
          {props.rows.length === 0 && (
            <tr class="empty">
              <td colspan={10} class="muted">
                No flows match.
              </td>
            </tr>
          )}
          {props.rows.map((r) => (
            <FlowRowView r={r} selected={r.id === props.selected} instance={props.instance} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Note(props: { kind?: 'bad' | 'good'; children?: Child }) {
  return (
    <div class={`note ${props.kind ?? ''}`} role={props.kind === 'bad' ? 'alert' : 'status'}>
      {props.children}
    </div>
  );
}

/** A query string from parameters (empty values left out). */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}
