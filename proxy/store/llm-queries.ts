// The UI's reads of sessions and agents (schema 7): sessions with their turns and what the agent
// did between them, and per agent its requests, denials, findings and LLM tokens per day. Every
// value is a bound parameter; the SQL spliced is constants.
import type Database from 'better-sqlite3';
import type { FlowRow } from '../cli/flows.ts';

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

export function sessionQueries(db: Database.Database) {
  const totals = db.prepare(
    `SELECT count(*) AS turns, coalesce(sum(f.llm_input_tokens), 0) AS tokens_in, coalesce(sum(f.llm_output_tokens), 0) AS tokens_out,
            group_concat(DISTINCT f.llm_model) AS models, group_concat(t.tools, char(10)) AS tools
       FROM session_turns t JOIN flows f ON f.id = t.flow_id WHERE t.session_id = ?`,
  );
  const ended = db.prepare('SELECT started_at + coalesce(total_ms, 0) FROM flows WHERE id = ?').pluck();
  const inWindow = `FROM flows f WHERE f.started_at >= ? AND f.started_at <= ? AND ${F_AGENT_SQL} = ?`;
  const hosts = db.prepare(
    `SELECT f.host AS host, count(*) AS n ${inWindow} AND f.host IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM session_turns t WHERE t.flow_id = f.id AND t.session_id = ?)
      GROUP BY f.host ORDER BY n DESC, f.host LIMIT 20`,
  );
  const denials = db.prepare(`SELECT count(*) ${inWindow} AND f.decision = 'deny'`).pluck();
  const findings = db.prepare(`SELECT count(*) FROM findings g JOIN flows f ON f.id = g.flow_id WHERE f.started_at >= ? AND f.started_at <= ? AND ${F_AGENT_SQL} = ?`).pluck();

  function complete(s: Omit<SessionRow, 'ended_at' | 'turns' | 'tokens_in' | 'tokens_out' | 'models' | 'tools' | 'hosts' | 'denials' | 'findings'> & { last_flow: number }): SessionRow {
    const t = totals.get(s.id) as { turns: number; tokens_in: number; tokens_out: number; models: string | null; tools: string | null };
    const end = (ended.get(s.last_flow) as number | undefined) ?? s.last_at;
    const tools = [...new Set((t.tools ?? '').split('\n').flatMap(parseList))];
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
      hosts: hosts.all(s.started_at, end, s.agent, s.id) as { host: string; n: number }[],
      denials: denials.get(s.started_at, end, s.agent) as number,
      findings: findings.get(s.started_at, end, s.agent) as number,
    };
  }

  return {
    /** Sessions, newest first. */
    list(q: SessionQuery): { rows: SessionRow[]; older: number | null } {
      const conds: string[] = [];
      const params: unknown[] = [];
      if (q.agent !== undefined) conds.push('agent = ?'), params.push(q.agent);
      if (q.since !== undefined) conds.push('last_at >= ?'), params.push(q.since);
      if (q.until !== undefined) conds.push('started_at <= ?'), params.push(q.until);
      if (q.before !== undefined) conds.push('id < ?'), params.push(q.before);
      const rows = db
        .prepare(`SELECT id, agent, provider, started_at, last_at, last_flow FROM llm_sessions ${conds.length ? `WHERE ${conds.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`)
        .all(...params, q.limit + 1) as (Parameters<typeof complete>[0])[];
      const page = rows.slice(0, q.limit).map(complete).filter((s) => s.turns > 0);
      return { rows: page, older: rows.length > q.limit ? rows[q.limit - 1].id : null };
    },

    one(id: number): SessionRow | undefined {
      const s = db.prepare('SELECT id, agent, provider, started_at, last_at, last_flow FROM llm_sessions WHERE id = ?').get(id) as Parameters<typeof complete>[0] | undefined;
      return s && complete(s);
    },

    turns(id: number): TurnRow[] {
      return (
        db
          .prepare(
            `SELECT t.flow_id, t.turn, t.messages, t.new_from, t.tools, f.started_at, f.total_ms, f.status, f.decision, f.code, f.host, f.path,
                    f.llm_model, f.llm_input_tokens, f.llm_output_tokens, f.llm_stop_reason,
                    (SELECT count(*) FROM findings g WHERE g.flow_id = f.id) AS findings
               FROM session_turns t JOIN flows f ON f.id = t.flow_id WHERE t.session_id = ? ORDER BY t.turn`,
          )
          .all(id) as (Omit<TurnRow, 'tools'> & { tools: string | null })[]
      ).map((t) => ({ ...t, tools: parseList(t.tools) }));
    },

    /** The agent's other flows while the session ran, oldest first (at most `limit`). */
    between(s: SessionRow, limit = 500): BetweenRow[] {
      return db
        .prepare(
          `SELECT f.id, f.started_at, f.method, f.scheme, f.host, f.port, f.path, f.query, f.status, f.decision, f.code, f.rule_id, f.llm_model,
                  (SELECT count(*) FROM findings g WHERE g.flow_id = f.id) AS findings,
                  (SELECT m.tool FROM mcp_calls m WHERE m.flow_id = f.id AND m.tool IS NOT NULL ORDER BY m.seq LIMIT 1) AS mcp_tool
             ${inWindow} AND NOT EXISTS (SELECT 1 FROM session_turns t WHERE t.flow_id = f.id AND t.session_id = ?)
            ORDER BY f.id LIMIT ?`,
        )
        .all(s.started_at, s.ended_at, s.agent, s.id, limit) as BetweenRow[];
    },

    /** The session turn a flow is, if any. */
    turnOfFlow(flowId: number): { session_id: number; turn: number; new_from: number; messages: number } | undefined {
      return db.prepare('SELECT session_id, turn, new_from, messages FROM session_turns WHERE flow_id = ?').get(flowId) as
        | { session_id: number; turn: number; new_from: number; messages: number }
        | undefined;
    },

    flowOfTurn(sessionId: number, turn: number): number | undefined {
      return db.prepare('SELECT flow_id FROM session_turns WHERE session_id = ? AND turn = ?').pluck().get(sessionId, turn) as number | undefined;
    },

    /** The flow ids of a session: its turns and the agent's flows between them, in order. */
    flowIds(s: SessionRow): number[] {
      const turns = db.prepare('SELECT flow_id FROM session_turns WHERE session_id = ?').pluck().all(s.id) as number[];
      const between = this.between(s, 100_000).map((b) => b.id);
      return [...turns, ...between].sort((a, b) => a - b);
    },
  };
}

export interface McpCallRow {
  seq: number;
  method: string;
  tool: string | null;
  rpc_id: string | null;
  arguments: string | null;
}

export function mcpCallsOf(db: Database.Database, flowId: number): McpCallRow[] {
  return db.prepare('SELECT seq, method, tool, rpc_id, arguments FROM mcp_calls WHERE flow_id = ? ORDER BY seq').all(flowId) as McpCallRow[];
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

/** Per agent over [since, until]: totals, per day, and LLM tokens per model per day. */
export function agentsOverview(db: Database.Database, since: number, until: number, agent?: string) {
  const only = agent === undefined ? '' : `AND ${AGENT_SQL} = ?`;
  const p = agent === undefined ? [since, until] : [since, until, agent];
  const fAgent = F_AGENT_SQL;
  const run = db.transaction(() => {
    const agents = db
      .prepare(
        `SELECT ${AGENT_SQL} AS agent, count(*) AS n, sum(decision = 'deny') AS denials, sum(decision = 'would_deny') AS would_deny, sum(llm_provider IS NOT NULL) AS llm_calls,
                coalesce(sum(llm_input_tokens), 0) AS tokens_in, coalesce(sum(llm_output_tokens), 0) AS tokens_out,
                min(started_at) AS first, max(started_at) AS last
           FROM flows WHERE started_at >= ? AND started_at <= ? ${only} GROUP BY 1 ORDER BY n DESC LIMIT 200`,
      )
      .all(...p) as Omit<AgentRow, 'findings' | 'sessions'>[];
    const findings = new Map(
      (
        db
          .prepare(`SELECT ${fAgent} AS agent, count(*) AS n FROM findings g JOIN flows f ON f.id = g.flow_id WHERE f.started_at >= ? AND f.started_at <= ? ${only.replace(AGENT_SQL, fAgent)} GROUP BY 1`)
          .all(...p) as { agent: string; n: number }[]
      ).map((r) => [r.agent, r.n]),
    );
    const sessions = new Map(
      (db.prepare(`SELECT agent, count(*) AS n FROM llm_sessions WHERE last_at >= ? AND started_at <= ? ${agent === undefined ? '' : 'AND agent = ?'} GROUP BY agent`).all(...p) as { agent: string; n: number }[]).map((r) => [
        r.agent,
        r.n,
      ]),
    );
    const days = db
      .prepare(
        `SELECT ${AGENT_SQL} AS agent, (started_at / ${DAY}) * ${DAY} AS day, count(*) AS n, sum(decision = 'deny') AS denials, 0 AS findings
           FROM flows WHERE started_at >= ? AND started_at <= ? ${only} GROUP BY 1, 2`,
      )
      .all(...p) as AgentDayRow[];
    const findingDays = db
      .prepare(
        `SELECT ${fAgent} AS agent, (f.started_at / ${DAY}) * ${DAY} AS day, count(*) AS n FROM findings g JOIN flows f ON f.id = g.flow_id
          WHERE f.started_at >= ? AND f.started_at <= ? ${only.replace(AGENT_SQL, fAgent)} GROUP BY 1, 2`,
      )
      .all(...p) as { agent: string; day: number; n: number }[];
    for (const fd of findingDays) {
      const d = days.find((x) => x.agent === fd.agent && x.day === fd.day);
      if (d) d.findings = fd.n;
    }
    const models = db
      .prepare(
        `SELECT ${AGENT_SQL} AS agent, (started_at / ${DAY}) * ${DAY} AS day, llm_model AS model, count(*) AS calls,
                coalesce(sum(llm_input_tokens), 0) AS tokens_in, coalesce(sum(llm_output_tokens), 0) AS tokens_out
           FROM flows WHERE started_at >= ? AND started_at <= ? AND llm_provider IS NOT NULL ${only} GROUP BY 1, 2, 3 ORDER BY 2, 3`,
      )
      .all(...p) as AgentModelDayRow[];
    return {
      agents: agents.map((a) => ({ ...a, findings: findings.get(a.agent) ?? 0, sessions: sessions.get(a.agent) ?? 0 })) as AgentRow[],
      days,
      models,
    };
  });
  return run();
}
