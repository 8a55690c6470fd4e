/** @jsxImportSource hono/jsx */
// Stats: totals, requests and bytes over time, top hosts and rules, latency.
import type { Stats } from '../../proxy/store/reader.ts';
import { BYTES_SERIES, DECISION_SERIES, HBars, LatencyChart, Legend, StackedBars } from '../charts.tsx';
import { bytes, Layout, ms, Note, num, type PageContext } from '../components.tsx';
import { FilterForm, filterQuery, type ReadFilter } from '../filters.tsx';
import { LATENCY_BINS } from '../../proxy/store/reader.ts';

export function bucketLabel(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} day${ms === 86_400_000 ? '' : 's'}`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} hour${ms === 3_600_000 ? '' : 's'}`;
  return `${ms / 60_000} minute${ms === 60_000 ? '' : 's'}`;
}

export function StatsPage(props: {
  ctx: PageContext;
  f: ReadFilter;
  s: Stats | null;
  from: number;
  to: number;
  bucketMs: number;
  latency: number[];
  rules: string[];
  instances: string[];
}) {
  const { f, s } = props;
  const flowsLink = (extra: Record<string, string>) => `/flows${filterQuery({ ...f.values, since: f.values.since === 'all' ? undefined : f.values.since }, extra)}`;
  return (
    <Layout ctx={props.ctx} title="Stats">
      <h1>Stats</h1>
      <FilterForm action="/stats" values={f.values} rules={props.rules} instances={props.instances} compact />
      {f.error && <Note kind="bad">Filter not applied: {f.error}</Note>}
      {s && (
        <>
          <p class="muted">
            {new Date(props.from).toISOString().replace('T', ' ').slice(0, 16)} to {new Date(props.to).toISOString().replace('T', ' ').slice(0, 16)} UTC, in
            steps of {bucketLabel(props.bucketMs)}.
          </p>
          <div class="tiles">
            <div class="tile">
              <b>{num(s.total)}</b>
              <span>flows</span>
            </div>
            {DECISION_SERIES.map((d) => (
              <div class="tile">
                <b>{num(s.decisions[d.key] ?? 0)}</b>
                <span>
                  <a href={flowsLink({ decision: d.key })}>{d.label}</a>
                </span>
              </div>
            ))}
            <div class="tile">
              <b>{bytes(s.bytes.up)}</b>
              <span>request bytes</span>
            </div>
            <div class="tile">
              <b>{bytes(s.bytes.down)}</b>
              <span>response bytes</span>
            </div>
            <div class="tile">
              <b>{ms(s.latency_ms.p50)}</b>
              <span>p50 latency</span>
            </div>
            <div class="tile">
              <b>{ms(s.latency_ms.p99)}</b>
              <span>p99 latency</span>
            </div>
          </div>
          <div class="charts">
            <section class="card" aria-labelledby="rpm">
              <h2 id="rpm">Requests by decision</h2>
              <Legend series={DECISION_SERIES} />
              <StackedBars
                title={`Flows per ${bucketLabel(props.bucketMs)} by decision`}
                buckets={s.per_minute.map((m) => ({ t: Date.parse(m.minute), values: m.counts }))}
                series={DECISION_SERIES}
                from={props.from}
                to={props.to}
                bucketMs={props.bucketMs}
              />
            </section>
            <section class="card" aria-labelledby="bytes">
              <h2 id="bytes">Bytes</h2>
              <Legend series={BYTES_SERIES} />
              <StackedBars
                title={`Bytes per ${bucketLabel(props.bucketMs)}`}
                buckets={s.per_minute.map((m) => ({ t: Date.parse(m.minute), values: { up: m.bytes.up, down: m.bytes.down } }))}
                series={BYTES_SERIES}
                from={props.from}
                to={props.to}
                bucketMs={props.bucketMs}
                format={bytes}
                binary
              />
            </section>
            <section class="card" aria-labelledby="hosts">
              <h2 id="hosts">Top hosts</h2>
              <HBars title="Flows per host, top 10" rows={s.top_hosts.map((h) => ({ label: h.host, value: h.count, href: flowsLink({ host: h.host }) }))} />
            </section>
            <section class="card" aria-labelledby="lat">
              <h2 id="lat">Latency</h2>
              <p class="muted">
                {num(s.latency_ms.count)} timed flows: p50 {ms(s.latency_ms.p50)}, p90 {ms(s.latency_ms.p90)}, p99 {ms(s.latency_ms.p99)}.
              </p>
              <LatencyChart bins={props.latency} bounds={LATENCY_BINS} p50={s.latency_ms.p50} p90={s.latency_ms.p90} p99={s.latency_ms.p99} />
            </section>
            <section class="card" aria-labelledby="rules">
              <h2 id="rules">Top rules</h2>
              <HBars title="Flows per policy rule, top 10" rows={s.top_rules.map((r) => ({ label: r.rule, value: r.count, href: flowsLink({ rule: r.rule }) }))} />
            </section>
          </div>
        </>
      )}
    </Layout>
  );
}
