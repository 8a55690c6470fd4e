/** @jsxImportSource hono/jsx */
// The UI's pages of sessions and agents (docs/ui.md#sessions, #agents), and a session as HAR.
import type { Context, Hono } from 'hono';
import type { Config } from '../policies/types.ts';
import { parseDuration } from '../policies/units.ts';
import { positiveInt, UsageError } from '../proxy/flow-filter.ts';
import { HAR_HEAD, HAR_TAIL, harEntry } from '../proxy/cli/flows.ts';
import type { FlowReader } from '../proxy/store/reader.ts';
import { logEvent } from '../proxy/log.ts';
import type { PageContext } from './components.tsx';
import { firstValues } from './filters.tsx';
import { AgentsPage } from './pages/agents.tsx';
import { conversationOfFlow } from './pages/flow-llm.tsx';
import { type SessionFilter, SessionPage, SessionsPage, TurnPage } from './pages/sessions.tsx';
import type { Session } from './sessions.ts';

type Env = { Variables: { nonce: string; session?: Session; cookie?: string } };

export interface LlmRouteDeps {
  reader: FlowReader;
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
  app.get('/sessions', async (c) => {
    const q = firstValues(c.req.queries());
    const f: SessionFilter = { ...(q.agent ? { agent: q.agent.slice(0, 200) } : {}), ...(q.since ? { since: q.since } : {}) };
    const s = d.reader.llm;
    const before = q.before ? idOf(q.before, 'before') : undefined;
    const page = await s.list({ agent: f.agent, since: sinceOf(f.since), before, limit: PAGE_SIZE });
    const agents = await s.sessionAgents();
    return d.html(c, <SessionsPage ctx={d.ctx(c, '/sessions')} f={f} rows={page.rows} older={page.older} agents={agents} />);
  });

  app.get('/sessions/:id', async (c) => {
    const q = d.reader.llm;
    const s = await q.one(idOf(c.req.param('id'), 'session'));
    if (!s) return d.message(c, 404, 'No such session', `There is no session ${c.req.param('id')} (retention may have deleted it).`);
    return d.html(c, <SessionPage ctx={d.ctx(c, '/sessions')} s={s} turns={await q.turns(s.id)} between={await q.between(s)} />);
  });

  app.get('/sessions/:id/turns/:n', async (c) => {
    const q = d.reader.llm;
    const s = await q.one(idOf(c.req.param('id'), 'session'));
    const turns = s ? await q.turns(s.id) : [];
    const n = idOf(c.req.param('n'), 'turn');
    const t = turns.find((x) => x.turn === n);
    const r = t && (await d.reader.flow(String(t.flow_id)));
    if (!s || !t || !r) return d.message(c, 404, 'No such turn', `Session ${c.req.param('id')} has no turn ${n}.`);
    const conversation = conversationOfFlow(r, await d.reader.bodies(t.flow_id));
    return d.html(c, <TurnPage ctx={d.ctx(c, '/sessions')} s={s} t={t} last={turns[turns.length - 1].turn} c={conversation} />);
  });

  // The session's flows (its turns and what the agent did between them) as HAR 1.2.
  app.get('/sessions/:id/har', async (c) => {
    const q = d.reader.llm;
    const s = await q.one(idOf(c.req.param('id'), 'session'));
    if (!s) return d.message(c, 404, 'No such session', `There is no session ${c.req.param('id')}.`);
    const ids = await q.flowIds(s);
    const enc = new TextEncoder();
    let at = 0;
    let count = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        let out = at === 0 ? HAR_HEAD : '';
        for (const id of ids.slice(at, at + HAR_STEP)) {
          const r = await d.reader.flow(String(id));
          if (r?.method && r.host) out += (count++ ? ',' : '') + JSON.stringify(harEntry(r, await d.reader.bodies(r.id)));
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

  app.get('/agents', async (c) => {
    const q = firstValues(c.req.queries());
    const since = ['24h', '7d', '30d', '90d'].includes(q.since ?? '') ? q.since! : '7d';
    const agent = q.agent ? q.agent.slice(0, 200) : undefined;
    const to = Date.now();
    const from = sinceOf(since)!;
    const data = await d.reader.llm.agents(from, to, agent);
    return d.html(c, <AgentsPage ctx={d.ctx(c, '/agents')} since={since} agent={agent} from={from} to={to} data={data} prices={d.config()?.prices ?? []} />);
  });
}
