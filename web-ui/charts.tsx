/** @jsxImportSource hono/jsx */
// Plots as inline SVG, drawn on the server: no script, no library, nothing fetched. Colours come
// from the stylesheet (classes), so they follow dark mode; every bar carries a <title> tooltip and
// each chart a text alternative.
import { bytes, ms, num } from './components.tsx';

const W = 720;
const PAD = { left: 52, right: 12, top: 12, bottom: 26 };

/** A round axis maximum at or above `v`: 1, 2, 2.5, 5 times a power of ten. */
export function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function timeLabel(t: number, bucketMs: number): string {
  const iso = new Date(t).toISOString();
  return bucketMs >= 86_400_000 ? iso.slice(5, 10) : bucketMs >= 3_600_000 ? iso.slice(5, 13).replace('T', ' ') + 'h' : iso.slice(11, 16);
}

export interface Series {
  key: string;
  label: string;
}

/**
 * Stacked bars over time: one bar per bucket from `from` to `to`, each split by series. Buckets
 * without data are drawn as gaps, so the time axis stays linear.
 */
export function StackedBars(props: {
  title: string;
  buckets: { t: number; values: Record<string, number> }[];
  series: Series[];
  from: number;
  to: number;
  bucketMs: number;
  height?: number;
  format?: (n: number) => string;
  /** Values are bytes: the axis is scaled in powers of 1024. */
  binary?: boolean;
}) {
  const H = props.height ?? 220;
  const fmt = props.format ?? num;
  const n = Math.max(1, Math.ceil((props.to - props.from) / props.bucketMs));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const top = Math.max(0, ...props.buckets.map((b) => props.series.reduce((s, x) => s + (b.values[x.key] ?? 0), 0)));
  // Bytes get round numbers of KiB, MiB, ...: 4 KiB, not 4.9 KiB.
  const unit = props.binary && top >= 1024 ? 1024 ** Math.floor(Math.log(top) / Math.log(1024)) : 1;
  const max = niceMax(top / unit) * unit;
  const slot = plotW / n;
  const barW = Math.max(1, slot * 0.8);
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  // Gridlines on round values: fifths of 2.5 and 5 (0.5, 1, ...), quarters of 1 and 2.
  const scaled = max / unit;
  const mantissa = scaled / 10 ** Math.floor(Math.log10(scaled));
  const parts = mantissa === 2.5 || mantissa === 5 ? 5 : 4;
  const ticks = Array.from({ length: parts + 1 }, (_, k) => (k / parts) * max);
  const labelEvery = Math.max(1, Math.ceil(n / 8));
  const total = props.buckets.reduce((s, b) => s + props.series.reduce((t, x) => t + (b.values[x.key] ?? 0), 0), 0);
  return (
    <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${props.title}: ${fmt(total)} in total`}>
      <title>{props.title}</title>
      {ticks.map((v) => (
        <g>
          <line class="grid" x1={PAD.left} x2={W - PAD.right} y1={y(v)} y2={y(v)} />
          <text x={PAD.left - 6} y={y(v) + 4} text-anchor="end">
            {fmt(v)}
          </text>
        </g>
      ))}
      {Array.from({ length: n }, (_, i) => i)
        .filter((i) => i % labelEvery === 0)
        .map((i) => (
          <text x={PAD.left + i * slot + slot / 2} y={H - 8} text-anchor="middle">
            {timeLabel(props.from + i * props.bucketMs, props.bucketMs)}
          </text>
        ))}
      {props.buckets.map((b) => {
        const i = Math.floor((b.t - props.from) / props.bucketMs);
        if (i < 0 || i >= n) return null;
        let acc = 0;
        const x = PAD.left + i * slot + (slot - barW) / 2;
        const tip = `${new Date(b.t).toISOString().slice(0, 16).replace('T', ' ')} UTC: ${props.series.map((s) => `${s.label} ${fmt(b.values[s.key] ?? 0)}`).join(', ')}`;
        return (
          <g>
            <title>{tip}</title>
            {props.series.map((s) => {
              const v = b.values[s.key] ?? 0;
              if (v <= 0) return null;
              const top = y(acc + v);
              const h = y(acc) - top;
              acc += v;
              return <rect class={s.key} x={x.toFixed(2)} y={top.toFixed(2)} width={barW.toFixed(2)} height={Math.max(0.5, h).toFixed(2)} />;
            })}
          </g>
        );
      })}
    </svg>
  );
}

export function Legend(props: { series: Series[] }) {
  return (
    <div class="legend" aria-hidden="true">
      {props.series.map((s) => (
        <span>
          <i class={s.key}></i>
          {s.label}
        </span>
      ))}
    </div>
  );
}

/** Horizontal bars with a label on each (top hosts, top rules). */
export function HBars(props: { title: string; rows: { label: string; value: number; href?: string }[]; format?: (n: number) => string }) {
  const fmt = props.format ?? num;
  const rowH = 24;
  const labelW = 250;
  const H = Math.max(1, props.rows.length) * rowH + 8;
  const max = Math.max(1, ...props.rows.map((r) => r.value));
  const plotW = W - labelW - 70;
  return (
    <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={props.title}>
      <title>{props.title}</title>
      {props.rows.length === 0 && (
        <text x={8} y={18}>
          nothing in this window
        </text>
      )}
      {props.rows.map((r, i) => {
        const w = Math.max(1, (r.value / max) * plotW);
        const label = r.label.length > 38 ? `${r.label.slice(0, 37)}…` : r.label;
        const bar = (
          <g>
            <title>{`${r.label}: ${fmt(r.value)}`}</title>
            <text class="label" x={labelW - 8} y={i * rowH + 17} text-anchor="end">
              {label}
            </text>
            <rect class="bar" x={labelW} y={i * rowH + 5} width={w.toFixed(2)} height={rowH - 8} rx="2" />
            <text x={labelW + w + 6} y={i * rowH + 17}>
              {fmt(r.value)}
            </text>
          </g>
        );
        return r.href ? <a href={r.href}>{bar}</a> : bar;
      })}
    </svg>
  );
}

/** Latency histogram (log-spaced bins) with the p50/p90/p99 marked. */
export function LatencyChart(props: { bins: number[]; bounds: number[]; p50: number | null; p90: number | null; p99: number | null }) {
  const H = 220;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom - 10;
  const n = props.bins.length;
  const slot = plotW / n;
  const max = niceMax(Math.max(0, ...props.bins));
  const y = (v: number) => PAD.top + 10 + plotH - (v / max) * plotH;
  const short = (v: number) => (v >= 1000 ? `${v / 1000}s` : `${v}ms`);
  // Each bin is labelled with its upper bound; the last holds everything slower.
  const label = (i: number) => (i < props.bounds.length ? `<${short(props.bounds[i])}` : `≥${short(props.bounds[props.bounds.length - 1])}`);
  // A percentile's x: inside its bin, placed linearly between the bin's bounds.
  const xOf = (v: number) => {
    const i = props.bounds.findIndex((b) => v < b);
    if (i === -1) return PAD.left + (n - 0.5) * slot;
    const lo = i === 0 ? 0 : props.bounds[i - 1];
    return PAD.left + (i + (v - lo) / (props.bounds[i] - lo)) * slot;
  };
  const marks = (
    [
      ['p50', props.p50],
      ['p90', props.p90],
      ['p99', props.p99],
    ] as const
  ).filter((m): m is readonly ['p50' | 'p90' | 'p99', number] => m[1] !== null);
  return (
    <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Latency: ${marks.map(([k, v]) => `${k} ${ms(v)}`).join(', ') || 'no timed flows'}`}>
      <title>Latency of completed flows</title>
      {[0, 0.5, 1].map((f) => (
        <g>
          <line class="grid" x1={PAD.left} x2={W - PAD.right} y1={y(f * max)} y2={y(f * max)} />
          <text x={PAD.left - 6} y={y(f * max) + 4} text-anchor="end">
            {num(f * max)}
          </text>
        </g>
      ))}
      {props.bins.map((v, i) => (
        <g>
          <title>{`${label(i)}: ${num(v)} flows`}</title>
          <rect class="bar" x={(PAD.left + i * slot + slot * 0.1).toFixed(2)} y={y(v).toFixed(2)} width={(slot * 0.8).toFixed(2)} height={Math.max(0, y(0) - y(v)).toFixed(2)} />
          <text x={PAD.left + i * slot + slot / 2} y={H - 8} text-anchor="middle" class="small">
            {label(i)}
          </text>
        </g>
      ))}
      {marks.map(([k, v], i) => {
        // One line per mark (15 units apart, more than a label's height), and labels that would
        // run past the plot's right edge are drawn to the left of their line.
        const x = xOf(v);
        const text = `${k} ${ms(v)}`;
        const right = x + 3 + text.length * 7 > W - PAD.right;
        return (
          <g>
            <line class="pct" x1={x.toFixed(2)} x2={x.toFixed(2)} y1={PAD.top + 8} y2={y(0)} />
            <text class={`label ${k}`} x={(right ? x - 3 : x + 3).toFixed(2)} y={PAD.top + 8 + i * 15} text-anchor={right ? 'end' : 'start'}>
              {text}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

/** A flow's timeline: waiting for the first response byte, then receiving, on one bar. */
export function Timeline(props: { ttfb: number | null; total: number | null; upstream: boolean }) {
  const TW = 480;
  const H = 58;
  const x0 = 4;
  const plotW = TW - 8;
  if (props.total === null || !props.upstream) {
    const text = props.total === null ? 'no timing recorded' : `airlock answered in ${ms(props.total)}, without an upstream response`;
    return (
      <svg class="chart" viewBox={`0 0 ${TW} ${H}`} role="img" aria-label={text}>
        <rect class="refuse" x={x0} y={6} width={plotW} height={20} rx="2" opacity="0.35" />
        <text x={x0} y={46}>
          {text}
        </text>
      </svg>
    );
  }
  const total = Math.max(props.total, 0.001);
  const wait = Math.min(props.ttfb ?? total, total);
  const wx = (wait / total) * plotW;
  const label = `first byte after ${ms(wait)}, complete after ${ms(total)}`;
  return (
    <svg class="chart" viewBox={`0 0 ${TW} ${H}`} role="img" aria-label={label}>
      <g>
        <title>{`waiting for the first response byte: ${ms(wait)}`}</title>
        <rect class="up" x={x0} y={6} width={Math.max(1, wx).toFixed(2)} height={20} rx="2" />
      </g>
      <g>
        <title>{`receiving the response: ${ms(total - wait)}`}</title>
        <rect class="down" x={(x0 + wx).toFixed(2)} y={6} width={Math.max(1, plotW - wx).toFixed(2)} height={20} rx="2" />
      </g>
      <text x={x0} y={46}>
        {label}
      </text>
    </svg>
  );
}

export const DECISION_SERIES: Series[] = [
  { key: 'allow', label: 'allow' },
  { key: 'deny', label: 'deny' },
  { key: 'refuse', label: 'refuse' },
  { key: 'error', label: 'error' },
];

export const BYTES_SERIES: Series[] = [
  { key: 'up', label: 'request bytes' },
  { key: 'down', label: 'response bytes' },
];

export { bytes };
