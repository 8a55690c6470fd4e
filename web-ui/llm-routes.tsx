/** @jsxImportSource hono/jsx */
// The UI's pages of sessions and agents (docs/ui.md#sessions, #agents), and a session as HAR.
import type Database from 'better-sqlite3';
import type { Context, Hono } from 'hono';
import type { Config } from '../policies/types.ts';
import { parseDuration } from '../policies/units.ts';
import { positiveInt, UsageError } from '../proxy/flow-filter.ts';
import { bodiesOf, HAR_HEAD, HAR_TAIL, harEntry, type FlowRow } from '../proxy/cli/flows.ts';
import { logEvent } from '../proxy/log.ts';
import type { PageContext } from './components.tsx';
import { firstValues } from './filters.tsx';
import { agentsOverview, sessionQueries } from '../proxy/store/llm-queries.ts';
import { AgentsPage } from './pages/agents.tsx';
import { conversationOfFlow } from './pages/flow-llm.tsx';
import { type SessionFilter, SessionPage, SessionsPage, TurnPage } from './pages/sessions.tsx';
import type { Session } from './sessions.ts';

type Env = { Variables: { nonce: string; session?: Session; cookie?: string } };

export interface LlmRouteDeps {
  db: () => Database.Database;
  config: () => Config | undefined;
  ctx: (c: Context<Env>, current?: string) => PageContext;
  html: (c: Context<Env>, page: unknown, status?: 200 | 400 | 404) => Response | Promise<Response>;
  message: (c: Context<Env>, status: 400 | 404, title: string, text: string) => Response | Promise<Response>;
  downloadCsp: string;
}

const PAGE_SIZE = 50;
/** Rows of a session HAR read per step while it streams. */
const HAR_STEP = 50;

function idOf(text: string, name: string): number {
  return positiveInt(text, name, 1);
}

function sinceOf(text: string | undefined, fallback?: string): number | undefined {
  const t = text || fallback;
  if (!t) return undefined;
  const d = parseDuration(t);
  if (!d.ok) throw new UsageError(`since: ${d.problem}`);
  return Date.now() - d.ms;
}

export function registerLlmRoutes(app: Hono<Env>, d: LlmRouteDeps): void {
  app.get('/sessions', (c) => {
    const q = firstValues(c.req.queries());
    const f: SessionFilter = { ...(q.agent ? { agent: q.agent.slice(0, 200) } : {}), ...(q.since ? { since: q.since } : {}) };
    const db = d.db();
    const s = sessionQueries(db);
    const before = q.before ? idOf(q.before, 'before') : undefined;
    const page = s.list({ agent: f.agent, since: sinceOf(f.since), before, limit: PAGE_SIZE });
    const agents = db.prepare('SELECT DISTINCT agent FROM llm_sessions ORDER BY agent LIMIT 200').pluck().all() as string[];
    return d.html(c, <SessionsPage ctx={d.ctx(c, '/sessions')} f={f} rows={page.rows} older={page.older} agents={agents} />);
  });

  app.get('/sessions/:id', (c) => {
    const db = d.db();
    const q = sessionQueries(db);
    const s = q.one(idOf(c.req.param('id'), 'session'));
    if (!s) return d.message(c, 404, 'No such session', `There is no session ${c.req.param('id')} (retention may have deleted it).`);
    return d.html(c, <SessionPage ctx={d.ctx(c, '/sessions')} s={s} turns={q.turns(s.id)} between={q.between(s)} />);
  });

  app.get('/sessions/:id/turns/:n', (c) => {
    const db = d.db();
    const q = sessionQueries(db);
    const s = q.one(idOf(c.req.param('id'), 'session'));
    const turns = s ? q.turns(s.id) : [];
    const n = idOf(c.req.param('n'), 'turn');
    const t = turns.find((x) => x.turn === n);
    if (!s || !t) return d.message(c, 404, 'No such turn', `Session ${c.req.param('id')} has no turn ${n}.`);
    const r = db.prepare('SELECT method, path, status, llm_model FROM flows WHERE id = ?').get(t.flow_id) as Pick<FlowRow, 'method' | 'path' | 'status' | 'llm_model'>;
    const conversation = conversationOfFlow(r, bodiesOf(db)(t.flow_id));
    return d.html(c, <TurnPage ctx={d.ctx(c, '/sessions')} s={s} t={t} last={turns[turns.length - 1].turn} c={conversation} />);
  });

  // The session's flows (its turns and what the agent did between them) as HAR 1.2.
  app.get('/sessions/:id/har', (c) => {
    const db = d.db();
    const q = sessionQueries(db);
    const s = q.one(idOf(c.req.param('id'), 'session'));
    if (!s) return d.message(c, 404, 'No such session', `There is no session ${c.req.param('id')}.`);
    const ids = q.flowIds(s);
    const row = db.prepare('SELECT * FROM flows WHERE id = ?');
    const bodies = bodiesOf(db);
    const enc = new TextEncoder();
    let at = 0;
    let count = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        let out = at === 0 ? HAR_HEAD : '';
        for (const id of ids.slice(at, at + HAR_STEP)) {
          const r = row.get(id) as FlowRow | undefined;
          if (r?.method && r.host) out += (count++ ? ',' : '') + JSON.stringify(harEntry(r, bodies(r.id)));
        }
        at += HAR_STEP;
        if (at >= ids.length) out += HAR_TAIL;
        controller.enqueue(enc.encode(out));
        if (at >= ids.length) controller.close();
      },
    });
    c.header('content-type', 'application/json; charset=utf-8');
    c.header('content-disposition', `attachment; filename="airlock-session-${s.id}.har"`);
    c.header('content-security-policy', d.downloadCsp);
    logEvent('info', 'web UI export', { by: c.get('session')?.name, format: 'har', session: s.id });
    return c.body(stream);
  });

  app.get('/agents', (c) => {
    const q = firstValues(c.req.queries());
    const since = ['24h', '7d', '30d', '90d'].includes(q.since ?? '') ? q.since! : '7d';
    const agent = q.agent ? q.agent.slice(0, 200) : undefined;
    const to = Date.now();
    const from = sinceOf(since)!;
    const data = agentsOverview(d.db(), from, to, agent);
    return d.html(c, <AgentsPage ctx={d.ctx(c, '/agents')} since={since} agent={agent} from={from} to={to} data={data} prices={d.config()?.prices ?? []} />);
  });
}
