/** @jsxImportSource hono/jsx */
// A stored body, rendered by what it is: JSON as a collapsible tree, a form as a table, text as
// text, images inline (a data: URL, which the CSP allows for img-src only), anything else as a
// hex dump. Every byte of it reaches the page as escaped text or as base64 inside an attribute.
import type { Child } from 'hono/jsx';
import { type BodyRow, isText } from '../proxy/cli/flows.ts';
import { bytes, num } from './components.tsx';

/** Image types shown inline. Not SVG: it is a document, shown as text. */
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp', 'image/x-icon', 'image/vnd.microsoft.icon']);
const IMAGE_MAX = 2 * 1024 * 1024;
/** Beyond this many nodes a JSON body is shown pretty-printed instead of as a tree. */
const JSON_TREE_NODES = 4000;
const HEX_MAX = 4096;
/** Text beyond this is cut on the page (the raw download has all of it). */
const TEXT_MAX = 512 * 1024;

/** Markers airlock writes into stored copies: injected keys, redactions (DLP writes [REDACTED:rule]). Highlighted wherever they occur. */
const MARKER = /\[(?:redacted|injected)(?::[^\]\s]{1,80})?\]/gi;

export function essence(contentType: string | null): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

/** Text with airlock's markers wrapped in <mark>. */
export function Highlighted(props: { text: string }): Child {
  const parts: Child[] = [];
  let last = 0;
  for (const m of props.text.matchAll(MARKER)) {
    if (m.index! > last) parts.push(props.text.slice(last, m.index));
    parts.push(<mark>{m[0]}</mark>);
    last = m.index! + m[0].length;
  }
  if (last < props.text.length) parts.push(props.text.slice(last));
  return <>{parts}</>;
}

export type BodyKind = 'json' | 'form' | 'text' | 'image' | 'hex';

export function bodyKind(b: BodyRow): BodyKind {
  const type = essence(b.content_type);
  const data = b.data ?? Buffer.alloc(0);
  if (b.encoding === null && IMAGE_TYPES.has(type) && !b.truncated && data.length <= IMAGE_MAX && data.length > 0) return 'image';
  if (!isText(b)) return 'hex';
  if (type === 'application/x-www-form-urlencoded') return 'form';
  if (/^application\/([\w.+-]*\+)?json$/.test(type) || (type === '' && /^\s*[[{]/.test(data.subarray(0, 64).toString('utf8')))) return 'json';
  return 'text';
}

export function hexDump(data: Buffer, max = HEX_MAX): string {
  const lines: string[] = [];
  const end = Math.min(data.length, max);
  for (let i = 0; i < end; i += 16) {
    const row = data.subarray(i, Math.min(i + 16, end));
    const hex = [...row].map((x) => x.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
    lines.push(`${i.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (data.length > max) lines.push(`… ${num(data.length - max)} more bytes`);
  return lines.join('\n');
}

function JsonValue(props: { v: unknown; depth: number; budget: { left: number } }): Child {
  const { v, depth, budget } = props;
  budget.left--;
  if (v === null) return <span class="b">null</span>;
  if (typeof v === 'string')
    return (
      <span class="s">
        "<Highlighted text={v} />"
      </span>
    );
  if (typeof v === 'number') return <span class="n">{String(v)}</span>;
  if (typeof v === 'boolean') return <span class="b">{String(v)}</span>;
  const isArray = Array.isArray(v);
  const entries: [string, unknown][] = isArray ? (v as unknown[]).map((x, i) => [String(i), x]) : Object.entries(v as Record<string, unknown>);
  const open = isArray ? '[' : '{';
  const close = isArray ? ']' : '}';
  if (entries.length === 0) return <span>{open + close}</span>;
  const label = isArray ? `${open} ${num(entries.length)} item${entries.length === 1 ? '' : 's'} ${close}` : `${open} ${num(entries.length)} key${entries.length === 1 ? '' : 's'} ${close}`;
  return (
    <details open={depth < 3}>
      <summary>{label}</summary>
      <ul>
        {entries.map(([k, x]) => (
          <li>
            {!isArray && (
              <>
                <span class="k">{JSON.stringify(k)}</span>:{' '}
              </>
            )}
            <JsonValue v={x} depth={depth + 1} budget={budget} />
          </li>
        ))}
      </ul>
    </details>
  );
}

function countNodes(v: unknown, limit: number): number {
  let n = 0;
  const stack: unknown[] = [v];
  while (stack.length && n <= limit) {
    const x = stack.pop();
    n++;
    if (x && typeof x === 'object') stack.push(...(Array.isArray(x) ? x : Object.values(x)));
  }
  return n;
}

function TextBlock(props: { text: string; label: string }) {
  const cut = props.text.length > TEXT_MAX;
  return (
    <>
      <pre class="body" tabindex={0} aria-label={props.label}>
        <Highlighted text={cut ? props.text.slice(0, TEXT_MAX) : props.text} />
      </pre>
      {cut && <p class="bodymeta">Shown: the first {num(TEXT_MAX)} characters; download the body for the rest.</p>}
    </>
  );
}

export function BodyView(props: { b: BodyRow | undefined; direction: 'request' | 'response'; flowId: number; note?: string }) {
  const { b, direction } = props;
  if (!b) return <p class="muted">{props.note ?? 'No body stored.'}</p>;
  const data = b.data ?? Buffer.alloc(0);
  const kind = bodyKind(b);
  const meta = [b.content_type ?? 'no content-type', bytes(b.size)];
  if (b.encoding) meta.push(`stored still ${b.encoding}-encoded`);
  if (b.truncated) meta.push(`stored: the first ${bytes(data.length)}`);
  const label = `${direction} body`;
  let view: Child;
  if (kind === 'image') {
    view = <img class="body" alt={`${direction} body image (${essence(b.content_type)}, ${bytes(data.length)})`} src={`data:${essence(b.content_type)};base64,${data.toString('base64')}`} />;
  } else if (kind === 'hex') {
    view = (
      <pre class="body hex" tabindex={0} aria-label={`${label}, hex dump`}>
        {hexDump(data)}
      </pre>
    );
  } else {
    const text = data.toString('utf8');
    if (kind === 'form') {
      const pairs = [...new URLSearchParams(text)];
      view = (
        <div class="scroll">
          <table class="headers" aria-label={`${label}, form fields`}>
            <tbody>
              {pairs.map(([k, v]) => (
                <tr>
                  <td>{k}</td>
                  <td>
                    <Highlighted text={v} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      );
    } else if (kind === 'json') {
      let parsed: { ok: true; v: unknown } | { ok: false } = { ok: false };
      try {
        parsed = { ok: true, v: JSON.parse(text) };
      } catch {
        // a cut or invalid JSON body is shown as text
      }
      if (!parsed.ok) view = <TextBlock text={text} label={label} />;
      else if (countNodes(parsed.v, JSON_TREE_NODES) > JSON_TREE_NODES) view = <TextBlock text={JSON.stringify(parsed.v, null, 2)} label={label} />;
      else
        view = (
          <div class="json" tabindex={0} aria-label={`${label}, JSON`}>
            <JsonValue v={parsed.v} depth={0} budget={{ left: JSON_TREE_NODES }} />
          </div>
        );
    } else view = <TextBlock text={text} label={label} />;
  }
  return (
    <div class={`bodyview kind-${kind}`}>
      <p class="bodymeta">
        {meta.join(' · ')} · shown as {kind === 'hex' ? 'hex' : kind} ·{' '}
        <a href={`/flows/${props.flowId}/body/${direction}`} download>
          download
        </a>
      </p>
      {view}
    </div>
  );
}
