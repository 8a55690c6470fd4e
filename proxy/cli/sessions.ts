// airlock sessions list|export: agents' LLM sessions from the audit trail (docs/audit.md#sessions),
// read-only. JSONL has one line per session with the ids of its flows; HAR holds one session's flows.
import fs from 'node:fs';
import { parseDuration } from '../../policies/units.ts';
import { positiveInt, UsageError } from '../flow-filter.ts';
import type { SessionRow } from '../store/llm-queries.ts';
import type { FlowReader } from '../store/reader.ts';
import { parseCli, unknownSubcommand } from './args.ts';
import { HAR_HEAD, HAR_TAIL, harEntry, type Io, openFlowsReader } from './flows.ts';

export const SESSIONS_HELP = `usage: airlock sessions list|export [options]

  list [--agent A] [--since T] [--limit N]       sessions, newest first
  export [--format jsonl|har] [--out FILE] [--agent A] [--since T] [--limit N] [--session ID]
      jsonl (default): one line per session, with the ids of its flows (its turns and the
      agent's flows between them); har: the flows of one session (--session ID) as HAR 1.2

  --agent A    the agent: a Proxy-Authorization user, or listener:ADDR
  --since T    sessions active in the last T (30m, 24h, 7d)

The store comes from --db FILE, --data-dir DIR (DIR/flows.sqlite), or the policy given with
--config FILE (default: ./.airlock): its store section only, PostgreSQL when it has
store.postgres. It is read only: airlock may be running.`;

const OPTIONS = {
  db: { type: 'string' },
  'data-dir': { type: 'string' },
  config: { type: 'string' },
  agent: { type: 'string' },
  since: { type: 'string' },
  limit: { type: 'string' },
  session: { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const stdio: Io = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) };

export async function sessionsCommand(args: string[]): Promise<number> {
  return runSessions(args, stdio);
}

/** The JSONL record of a session. */
export function sessionRecord(s: SessionRow, turnFlows: number[], flows: number[]): Record<string, unknown> {
  return {
    id: s.id,
    agent: s.agent,
    provider: s.provider,
    started_at: new Date(s.started_at).toISOString(),
    ended_at: new Date(s.ended_at).toISOString(),
    turns: s.turns,
    tokens_in: s.tokens_in,
    tokens_out: s.tokens_out,
    models: s.models,
    tools: s.tools,
    hosts: s.hosts,
    denials: s.denials,
    findings: s.findings,
    turn_flows: turnFlows,
    flows,
  };
}

export async function runSessions(args: string[], io: Io): Promise<number> {
  let reader: FlowReader | undefined;
  try {
    const { values, positionals } = parseCli(args, OPTIONS);
    const [sub, ...rest] = positionals;
    if (values.help || !sub) {
      (values.help ? io.out : io.err)(`${SESSIONS_HELP}\n`);
      return values.help ? 0 : 2;
    }
    if (sub !== 'list' && sub !== 'export') throw unknownSubcommand('subcommand', sub, ['list', 'export']);
    if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
    const format = values.format ?? 'jsonl';
    if (format !== 'jsonl' && format !== 'har') throw new UsageError('--format must be jsonl or har');
    if (format === 'har' && values.session === undefined) throw new UsageError('--format har exports one session: give --session ID');
    let since: number | undefined;
    if (values.since !== undefined) {
      const d = parseDuration(values.since);
      if (!d.ok) throw new UsageError(`--since: ${d.problem}`);
      since = Date.now() - d.ms;
    }
    const limit = values.limit === undefined ? (sub === 'list' ? 50 : Infinity) : positiveInt(values.limit, '--limit', 1);
    reader = openFlowsReader(values);
    const q = reader.llm;
    const sessions: SessionRow[] = [];
    if (values.session !== undefined) {
      const s = await q.one(positiveInt(values.session, '--session', 1));
      if (!s) throw new Error(`no session ${values.session}`);
      sessions.push(s);
    } else {
      for (let before: number | undefined; sessions.length < limit; ) {
        const page = await q.list({ agent: values.agent, since, before, limit: Math.min(500, limit - sessions.length) });
        sessions.push(...page.rows);
        if (page.older === null) break;
        before = page.older;
      }
    }
    if (sub === 'list') {
      for (const s of sessions) {
        io.out(
          `${String(s.id).padStart(6)}  ${new Date(s.started_at).toISOString()}  ${s.agent}  ${s.models.join(',') || '-'}  turns ${s.turns}  tokens ${s.tokens_in}/${s.tokens_out}` +
            `${s.tools.length ? `  tools ${s.tools.join(',')}` : ''}${s.denials ? `  denied ${s.denials}` : ''}${s.findings ? `  findings ${s.findings}` : ''}\n`,
        );
      }
      return 0;
    }
    const toFile = values.out !== undefined && values.out !== '-';
    // Bodies and headers are sensitive: the export is readable by its owner only.
    const fd = toFile ? fs.openSync(values.out!, 'w', 0o600) : -1;
    const write = (s: string) => (toFile ? fs.writeSync(fd, s) : io.out(s));
    try {
      if (format === 'jsonl') {
        for (const s of sessions) {
          const turns = (await q.turns(s.id)).map((t) => t.flow_id);
          write(`${JSON.stringify(sessionRecord(s, turns, await q.flowIds(s)))}\n`);
        }
      } else {
        let n = 0;
        write(HAR_HEAD);
        for (const id of await q.flowIds(sessions[0])) {
          const r = await reader.flow(String(id));
          if (r?.method && r.host) write((n++ ? ',' : '') + JSON.stringify(harEntry(r, await reader.bodies(r.id))));
        }
        write(HAR_TAIL);
      }
    } finally {
      if (toFile) fs.closeSync(fd);
    }
    io.err(`exported ${sessions.length} session${sessions.length === 1 ? '' : 's'}${toFile ? ` to ${values.out}` : ''}\n`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError || (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`airlock sessions: ${(e as Error).message}\n\n${SESSIONS_HELP}\n`);
      return 2;
    }
    io.err(`airlock sessions: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await reader?.close();
  }
}
