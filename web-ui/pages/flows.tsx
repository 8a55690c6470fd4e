/** @jsxImportSource hono/jsx */
// Flows: the filtered list, newest first, with cursor pages and (on the newest page) live updates.
import type { Child } from 'hono/jsx';
import { FlowTable, Layout, Note, type PageContext } from '../components.tsx';
import { FilterForm, filterQuery, type ReadFilter } from '../filters.tsx';
import type { Page } from '../../proxy/store/reader.ts';

export function FlowsPage(props: { ctx: PageContext; f: ReadFilter; page: Page; head: boolean; maxId: number; rules: string[]; instances: string[]; pane?: Child; selected?: number }) {
  const { f, page } = props;
  const q = (extra: Record<string, string | number | undefined> = {}) => filterQuery(f.values, extra);
  // Which instance handled each flow: a column once more than one wrote to the store.
  const several = props.instances.length > 1;
  return (
    <Layout ctx={props.ctx} title="Flows">
      <h1>Flows</h1>
      <FilterForm action="/flows" values={f.values} rules={props.rules} instances={props.instances} />
      {f.error && <Note kind="bad">Filter not applied: {f.error}</Note>}
      <div class="toolbar">
        {props.head && !f.error ? (
          <>
            <span class="live" id="live-status" data-state="off" aria-live="polite">
              <span class="dot"></span>
              <span class="text">live updates need JavaScript</span>
            </span>
            <span class="muted">
              new: <span id="live-count">0</span>
            </span>
            <button type="button" id="live-toggle" aria-pressed="false">
              Pause
            </button>
          </>
        ) : (
          <span class="muted">{f.error ? '' : 'Older page: live updates are on the newest page.'}</span>
        )}
        <span class="spacer"></span>
        <span>
          Export this filter:{' '}
          <a href={`/export${q({ format: 'har' })}`} download>
            HAR
          </a>{' '}
          ·{' '}
          <a href={`/export${q({ format: 'jsonl' })}`} download>
            JSONL
          </a>
        </span>
      </div>
      <div class={`split${props.pane ? ' open' : ''}`}>
        <FlowTable
          rows={page.rows}
          instance={several}
          live={props.head && !f.error ? `/flows/live${q(several ? { columns: 'instance' } : {})}` : undefined}
          after={props.head ? props.maxId : undefined}
          selected={props.selected}
        />
        <aside class="pane" id="flow-pane" aria-label="Selected flow" aria-live="polite" hidden={!props.pane}>
          {props.pane}
        </aside>
      </div>
      <nav class="pager" aria-label="Pages">
        {props.head ? (
          <span class="muted">Newest page</span>
        ) : (
          <>
            <a rel="prev" href={page.newer !== null ? `/flows${q({ after: page.newer })}` : `/flows${q()}`}>
              ← Newer
            </a>
            <a href={`/flows${q()}`}>Newest</a>
          </>
        )}
        {page.older !== null ? (
          <a rel="next" href={`/flows${q({ before: page.older })}`}>
            Older →
          </a>
        ) : (
          <span class="muted">Oldest</span>
        )}
      </nav>
    </Layout>
  );
}
