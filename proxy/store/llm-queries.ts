// The readers' view of sessions, MCP calls and agents (SQLite schema 7, PostgreSQL schema 2):
// sessions with their turns and what the agent did between them, and per agent its requests,
// denials, findings and LLM tokens per day. One set of queries for both stores, over the small
// seam `Sql` (written in SQL both understand; the one difference, string aggregation, is the
// dialect's). Every value is a bound parameter; the SQL spliced is constants.
import type { FlowRow } from './reader.ts';

/** How the LLM reads reach a store: `?` placeholders in order. */
export interface Sql {
  dialect: 'sqlite' | 'postgres';
  all<T>(sql: string, params: unknown[]): Promise<T[]>;
}

/** `?` to `$1, $2, ...` (the queries below hold no `?` in a literal). */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** Strings of a group joined by `sep` (a constant). */
function joined(sql: Sql, expr: string, sep: ',' | 'newline', distinct = false): string {
  if (sql.dialect === 'postgres') return `string_agg(${distinct ? 'DISTINCT ' : ''}${expr}, ${sep === ',' ? "','" : 'chr(10)'})`;
  return distinct ? `group_concat(DISTINCT ${expr})` : `group_concat(${expr}, ${sep === ',' ? "','" : 'char(10)'})`;
}

const DENIED = "sum(CASE WHEN decision = 'deny' THEN 1 ELSE 0 END)";

/** The agent a flow is counted for (sessions.cjs agentOf, budgets' agentKey), as SQL over flows. */
export const AGENT_SQL = "coalesce(nullif(agent_user, ''), 'listener:' || listener)";
/** The same over `flows f`. */
const F_AGENT_SQL = "coalesce(nullif(f.agent_user, ''), 'listener:' || f.listener)";

export interface SessionRow {
  id: number;
  agent: string;
  provider: string;
  started_at: number;
  last_at: number;
  /** When its last call finished (or started, if it never did). */
  ended_at: number;
  turns: number;
  tokens_in: number;
  tokens_out: number;
  models: string[];
  /** Tools its answers called. */
  tools: string[];
  /** Other hosts the agent reached while the session ran, with how many flows. */
  hosts: { host: string; n: number }[];
  denials: number;
  findings: number;
}

export interface TurnRow {
  flow_id: number;
  turn: number;
  messages: number;
  new_from: number;
  tools: string[];
  started_at: number;
  total_ms: number | null;
  status: number | null;
  decision: string;
  code: string | null;
  host: string | null;
  path: string | null;
  llm_model: string | null;
  llm_input_tokens: number | null;
  llm_output_tokens: number | null;
  llm_stop_reason: string | null;
  findings: number;
}

/** A flow of the agent between turns: what it did with the answers. */
export type BetweenRow = Pick<FlowRow, 'id' | 'started_at' | 'method' | 'scheme' | 'host' | 'port' | 'path' | 'query' | 'status' | 'decision' | 'code' | 'rule_id' | 'llm_model'> & {
  findings: number;
  mcp_tool: string | null;
};

export interface SessionQuery {
  agent?: string;
  since?: number;
  until?: number;
  /** Sessions with an id below this (older pages). */
  before?: number;
  limit: number;
}

const parseList = (json: string | null): string[] => {
  try {
    const v: unknown = json ? JSON.parse(json) : [];
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
};

export interface LlmReader {
  /** Sessions, newest first. */
  list(q: SessionQuery): Promise<{ rows: SessionRow[]; older: number | null }>;
  one(id: number): Promise<SessionRow | undefined>;
  turns(id: number): Promise<TurnRow[]>;
  /** The agent's other flows while the session ran, oldest first (at most `limit`). */
  between(s: SessionRow, limit?: number): Promise<BetweenRow[]>;
  /** The session turn a flow is, if any. */
  turnOfFlow(flowId: number): Promise<{ session_id: number; turn: number; new_from: number; messages: number } | undefined>;
  /** The flow ids of a session: its turns and the agent's flows between them, in order. */
  flowIds(s: SessionRow): Promise<number[]>;
  /** Agents with sessions (the Sessions page's filter). */
  sessionAgents(): Promise<string[]>;
  mcpCalls(flowId: number): Promise<McpCallRow[]>;
  /** Per agent over [since, until]: totals, per day, and LLM tokens per model per day. */
  agents(since: number, until: number, agent?: string): Promise<AgentsOverview>;
}

export function llmReader(sql: Sql): LlmReader {
  const all = <T>(q: string, params: unknown[]) => sql.all<T>(q, params);
  const one = async <T>(q: string, params: unknown[]): Promise<T | undefined> => (await sql.all<T>(q, params))[0];
  const inWindow = `FROM flows f WHERE f.started_at >= ? AND f.started_at <= ? AND ${F_AGENT_SQL} = ?`;
  const SESSION = 'SELECT id, agent, provider, started_at, last_at, last_flow FROM llm_sessions';

  async function complete(s: Omit<SessionRow, 'ended_at' | 'turns' | 'tokens_in' | 'tokens_out' | 'models' | 'tools' | 'hosts' | 'denials' | 'findings'> & { last_flow: number }): Promise<SessionRow> {
    const t = (await one<{ turns: number; tokens_in: number; tokens_out: number; models: string | null; tools: string | null }>(
      `SELECT count(*) AS turns, coalesce(sum(f.llm_input_tokens), 0) AS tokens_in, coalesce(sum(f.llm_output_tokens), 0) AS tokens_out,
              ${joined(sql, 'f.llm_model', ',', true)} AS models, ${joined(sql, 't.tools', 'newline')} AS tools
         FROM session_turns t JOIN flows f ON f.id = t.flow_id WHERE t.session_id = ?`,
      [s.id],
    ))!;
    const end = (await one<{ e: number }>('SELECT started_at + coalesce(total_ms, 0) AS e FROM flows WHERE id = ?', [s.last_flow]))?.e ?? s.last_at;
    const tools = [...new Set((t.tools ?? '').split('\n').flatMap(parseList))];
    const hosts = await all<{ host: string; n: number }>(
      `SELECT f.host AS host, count(*) AS n ${inWindow} AND f.host IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM session_turns t WHERE t.flow_id = f.id AND t.session_id = ?)
        GROUP BY f.host ORDER BY n DESC, f.host LIMIT 20`,
      [s.started_at, end, s.agent, s.id],
    );
    const denials = (await one<{ n: number }>(`SELECT count(*) AS n ${inWindow} AND f.decision = 'deny'`, [s.started_at, end, s.agent]))!.n;
    const findings = (await one<{ n: number }>(
      `SELECT count(*) AS n FROM findings g JOIN flows f ON f.id = g.flow_id WHERE f.started_at >= ? AND f.started_at <= ? AND ${F_AGENT_SQL} = ?`,
      [s.started_at, end, s.agent],
    ))!.n;
    return {
      id: s.id,
      agent: s.agent,
      provider: s.provider,
      started_at: s.started_at,
      last_at: s.last_at,
      ended_at: end,
      turns: t.turns,
      tokens_in: t.tokens_in,
      tokens_out: t.tokens_out,
      models: t.models ? t.models.split(',') : [],
      tools,
      hosts,
      denials,
      findings,
    };
  }

  const reader: LlmReader = {
    async list(q) {
      const conds: string[] = [];
      const params: unknown[] = [];
      if (q.agent !== undefined) conds.push('agent = ?'), params.push(q.agent);
      if (q.since !== undefined) conds.push('last_at >= ?'), params.push(q.since);
      if (q.until !== undefined) conds.push('started_at <= ?'), params.push(q.until);
      if (q.before !== undefined) conds.push('id < ?'), params.push(q.before);
      const rows = await all<Parameters<typeof complete>[0]>(`${SESSION} ${conds.length ? `WHERE ${conds.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`, [...params, q.limit + 1]);
      const page = (await Promise.all(rows.slice(0, q.limit).map(complete))).filter((s) => s.turns > 0);
      return { rows: page, older: rows.length > q.limit ? rows[q.limit - 1].id : null };
    },

    async one(id) {
      const s = await one<Parameters<typeof complete>[0]>(`${SESSION} WHERE id = ?`, [id]);
      return s && complete(s);
    },

    async turns(id) {
      const rows = await all<Omit<TurnRow, 'tools'> & { tools: string | null }>(
        `SELECT t.flow_id, t.turn, t.messages, t.new_from, t.tools, f.started_at, f.total_ms, f.status, f.decision, f.code, f.host, f.path,
                f.llm_model, f.llm_input_tokens, f.llm_output_tokens, f.llm_stop_reason,
                (SELECT count(*) FROM findings g WHERE g.flow_id = f.id) AS findings
           FROM session_turns t JOIN flows f ON f.id = t.flow_id WHERE t.session_id = ? ORDER BY t.turn`,
        [id],
      );
      return rows.map((t) => ({ ...t, tools: parseList(t.tools) }));
    },

    between(s, limit = 500) {
      return all<BetweenRow>(
        `SELECT f.id, f.started_at, f.method, f.scheme, f.host, f.port, f.path, f.query, f.status, f.decision, f.code, f.rule_id, f.llm_model,
                (SELECT count(*) FROM findings g WHERE g.flow_id = f.id) AS findings,
                (SELECT m.tool FROM mcp_calls m WHERE m.flow_id = f.id AND m.tool IS NOT NULL ORDER BY m.seq LIMIT 1) AS mcp_tool
           ${inWindow} AND NOT EXISTS (SELECT 1 FROM session_turns t WHERE t.flow_id = f.id AND t.session_id = ?)
          ORDER BY f.id LIMIT ?`,
        [s.started_at, s.ended_at, s.agent, s.id, limit],
      );
    },

    turnOfFlow(flowId) {
      return one('SELECT session_id, turn, new_from, messages FROM session_turns WHERE flow_id = ?', [flowId]);
    },

    async flowIds(s) {
      const turns = (await all<{ flow_id: number }>('SELECT flow_id FROM session_turns WHERE session_id = ?', [s.id])).map((r) => r.flow_id);
      const between = (await reader.between(s, 100_000)).map((b) => b.id);
      return [...turns, ...between].sort((a, b) => a - b);
    },

    async sessionAgents() {
      return (await all<{ agent: string }>('SELECT DISTINCT agent FROM llm_sessions ORDER BY agent LIMIT 200', [])).map((r) => r.agent);
    },

    mcpCalls(flowId) {
      return all<McpCallRow>('SELECT seq, method, tool, rpc_id, arguments FROM mcp_calls WHERE flow_id = ? ORDER BY seq', [flowId]);
    },

    agents: (since, until, agent) => agentsOverview(sql, since, until, agent),
  };
  return reader;
}

export interface McpCallRow {
  seq: number;
  method: string;
  tool: string | null;
  rpc_id: string | null;
  arguments: string | null;
}


export interface AgentRow {
  agent: string;
  n: number;
  denials: number;
  /** Let through by report mode although the policy would deny them. */
  would_deny: number;
  llm_calls: number;
  tokens_in: number;
  tokens_out: number;
  findings: number;
  first: number;
  last: number;
  sessions: number;
}

export interface AgentDayRow {
  agent: string;
  day: number;
  n: number;
  denials: number;
  findings: number;
}

export interface AgentModelDayRow {
  agent: string;
  day: number;
  model: string | null;
  calls: number;
  tokens_in: number;
  tokens_out: number;
}

const DAY = 86_400_000;

export interface AgentsOverview {
  agents: AgentRow[];
  days: AgentDayRow[];
  models: AgentModelDayRow[];
}

async function agentsOverview(sql: Sql, since: number, until: number, agent?: string): Promise<AgentsOverview> {
  const only = agent === undefined ? '' : `AND ${AGENT_SQL} = ?`;
  const fOnly = agent === undefined ? '' : `AND ${F_AGENT_SQL} = ?`;
  const p = agent === undefined ? [since, until] : [since, until, agent];
  const agents = await sql.all<Omit<AgentRow, 'findings' | 'sessions'>>(
    `SELECT ${AGENT_SQL} AS agent, count(*) AS n, ${DENIED} AS denials, sum(CASE WHEN decision = 'would_deny' THEN 1 ELSE 0 END) AS would_deny, count(llm_provider) AS llm_calls,
            coalesce(sum(llm_input_tokens), 0) AS tokens_in, coalesce(sum(llm_output_tokens), 0) AS tokens_out,
            min(started_at) AS first, max(started_at) AS last
       FROM flows WHERE started_at >= ? AND started_at <= ? ${only} GROUP BY 1 ORDER BY n DESC LIMIT 200`,
    p,
  );
  const findings = new Map(
    (
      await sql.all<{ agent: string; n: number }>(
        `SELECT ${F_AGENT_SQL} AS agent, count(*) AS n FROM findings g JOIN flows f ON f.id = g.flow_id WHERE f.started_at >= ? AND f.started_at <= ? ${fOnly} GROUP BY 1`,
        p,
      )
    ).map((r) => [r.agent, r.n]),
  );
  const sessions = new Map(
    (
      await sql.all<{ agent: string; n: number }>(
        `SELECT agent, count(*) AS n FROM llm_sessions WHERE last_at >= ? AND started_at <= ? ${agent === undefined ? '' : 'AND agent = ?'} GROUP BY agent`,
        p,
      )
    ).map((r) => [r.agent, r.n]),
  );
  const days = await sql.all<AgentDayRow>(
    `SELECT ${AGENT_SQL} AS agent, (started_at / ${DAY}) * ${DAY} AS day, count(*) AS n, ${DENIED} AS denials, 0 AS findings
       FROM flows WHERE started_at >= ? AND started_at <= ? ${only} GROUP BY 1, 2`,
    p,
  );
  const findingDays = await sql.all<{ agent: string; day: number; n: number }>(
    `SELECT ${F_AGENT_SQL} AS agent, (f.started_at / ${DAY}) * ${DAY} AS day, count(*) AS n FROM findings g JOIN flows f ON f.id = g.flow_id
      WHERE f.started_at >= ? AND f.started_at <= ? ${fOnly} GROUP BY 1, 2`,
    p,
  );
  for (const fd of findingDays) {
    const d = days.find((x) => x.agent === fd.agent && x.day === fd.day);
    if (d) d.findings = fd.n;
  }
  const models = await sql.all<AgentModelDayRow>(
    `SELECT ${AGENT_SQL} AS agent, (started_at / ${DAY}) * ${DAY} AS day, llm_model AS model, count(*) AS calls,
            coalesce(sum(llm_input_tokens), 0) AS tokens_in, coalesce(sum(llm_output_tokens), 0) AS tokens_out
       FROM flows WHERE started_at >= ? AND started_at <= ? AND llm_provider IS NOT NULL ${only} GROUP BY 1, 2, 3 ORDER BY 2, 3`,
    p,
  );
  return { agents: agents.map((a) => ({ ...a, findings: findings.get(a.agent) ?? 0, sessions: sessions.get(a.agent) ?? 0 })), days, models };
}
