// airlock flows list|show|export|verify: the audit trail for an operator, read-only, from the
// SQLite file or PostgreSQL (store/reader.ts). Every user-supplied value reaches the store as a
// bound parameter; nothing is spliced into SQL.
import fs from 'node:fs';
import { STATUS_CODES } from 'node:http';
import path from 'node:path';
import type { parseArgs } from 'node:util';
import { loadStoreSection } from '../../policies/load-store.ts';
import { parseCli, unknownSubcommand } from './args.ts';
import { filterOf, positiveInt, UsageError } from '../flow-filter.ts';
import { type BodyRow, bodiesOf } from '../store/bodies.ts';
import { openReader } from '../store/open-reader.ts';
import type { FlowReader, FlowRow } from '../store/reader.ts';
import { openStore, type SqliteReader, sqliteReader } from '../store/sqlite-reader.ts';
import { countMatching } from '../store/sqlite-queries.ts';
import { progress } from './progress.ts';

export { openStore };
export type { FlowRow };

export const FLOWS_HELP = `usage: airlock flows list|show|export|verify [options]

  list [filters] [--limit N] [--after ID]   flows, oldest first; without --after the newest N (default 50)
  show ID                                   one flow with its headers and bodies (ID or flow_id)
  export --format jsonl|har [--out FILE] [filters] [--limit N] [--after ID]
  verify                                    recompute the hash chain; exit 1 at the first broken link

filters:
  --host GLOB          host name, * and ? wildcards (e.g. "*.anthropic.com")
  --decision D         allow, would_deny, deny, refuse or error
  --method M           GET, POST, ...
  --status S           a status (404) or a class (4xx)
  --since T, --until T ISO time (2025-01-31T12:00:00Z) or relative (30s, 15m, 1h, 2d, 1w)
  --rule ID            the policy rule that decided the flow
  --agent USER         the agent user (agent_user)
  --path PREFIX        request path starting with PREFIX (taken literally)
  --has-finding        flows with at least one DLP finding
  --text WORDS         every word occurs in the URL, the headers or a text body (full-text search;
                       words are looked up as given, never as search syntax)
  --where EXPR         a boolean expression: host:*.github.com and (decision:deny or text:"private key")
                       and not method:GET (fields host decision method status rule agent listener path
                       code text finding; a bare word is text; docs/audit.md has the grammar)
  --instance NAME      the airlock instance that handled the flow (store.instance)

The store comes from --db FILE, --data-dir DIR (DIR/flows.sqlite), or the policy given with
--config FILE (its data_dir, by default the policy's own directory; without any: ./.airlock):
its store section only, PostgreSQL when it has store.postgres (the URL's env: or file: source
must be readable here). The SQLite file is opened read-only: airlock may be running.`;

export interface Io {
  /** false: the reader is behind; wait for drained() before writing more. */
  out(text: string): boolean | void;
  err(text: string): void;
  drained?(): Promise<void>;
}

const stdio: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  drained: () => new Promise((resolve) => process.stdout.once('drain', resolve)),
};

export async function flowsCommand(args: string[]): Promise<number> {
  return runFlows(args, stdio);
}

const OPTIONS = {
  db: { type: 'string' },
  'data-dir': { type: 'string' },
  config: { type: 'string' },
  host: { type: 'string' },
  decision: { type: 'string' },
  method: { type: 'string' },
  status: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  rule: { type: 'string' },
  agent: { type: 'string' },
  path: { type: 'string' },
  'has-finding': { type: 'boolean' },
  text: { type: 'string' },
  instance: { type: 'string' },
  where: { type: 'string' },
  limit: { type: 'string' },
  after: { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

export async function runFlows(args: string[], io: Io): Promise<number> {
  let reader: FlowReader | undefined;
  try {
    const { values, positionals } = parseCli(args, OPTIONS);
    const [sub, ...rest] = positionals;
    if (values.help || !sub) return say(io.out, FLOWS_HELP, values.help ? 0 : 2, io);
    if (!['list', 'show', 'export', 'verify'].includes(sub)) throw unknownSubcommand('subcommand', sub, ['list', 'show', 'export', 'verify']);
    reader = openFlowsReader(values);
    switch (sub) {
      case 'list':
        return await list(reader, values, io);
      case 'show':
        if (rest.length !== 1) throw new UsageError('show takes one flow ID');
        return await show(reader, rest[0], io);
      case 'export':
        return await exportFlows(reader, values, io);
      default:
        return await verify(reader, io);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      return say(io.err, `airlock flows: ${(e as Error).message}\n\n${FLOWS_HELP}`, 2, io);
    }
    return say(io.err, `airlock flows: ${(e as Error).message}`, 1, io);
  } finally {
    await reader?.close();
  }
}

function say(to: (t: string) => void, text: string, code: number, _io: Io): number {
  to(text.endsWith('\n') ? text : text + '\n');
  return code;
}

// ---------------------------------------------------------------------------------------------
// Opening the store

/** The store named by --db, --data-dir, or the policy's store section (read without the hosts' secrets). */
export function openFlowsReader(v: { db?: string; 'data-dir'?: string; config?: string }): FlowReader {
  if (v.db) return sqliteReader(path.resolve(v.db));
  if (v['data-dir']) return sqliteReader(path.resolve(v['data-dir'], 'flows.sqlite'));
  if (v.config) {
    // Only data_dir and store: an auditor must not need the API keys the policy names.
    const r = loadStoreSection(path.resolve(v.config));
    if (!r.ok) throw new Error(`the policy's store section has ${r.errors.length} problem(s):\n  ${r.errors.join('\n  ')}`);
    return openReader(r.store);
  }
  return sqliteReader(path.resolve('.airlock', 'flows.sqlite'));
}

/** The SQLite store file named by --db, --data-dir or the policy (`airlock policy` reads SQLite only: a PostgreSQL store is an error naming it). */
export function storePathOf(v: { db?: string; 'data-dir'?: string; config?: string }): string {
  if (v.db) return path.resolve(v.db);
  if (v['data-dir']) return path.resolve(v['data-dir'], 'flows.sqlite');
  if (v.config) {
    const r = loadStoreSection(path.resolve(v.config));
    if (!r.ok) throw new Error(`the policy's store section has ${r.errors.length} problem(s):\n  ${r.errors.join('\n  ')}`);
    if (r.store.postgres) throw new Error(`${v.config}: store.postgres: this command reads a SQLite flow store only; give --db FILE with a SQLite store`);
    return r.store.path;
  }
  return path.resolve('.airlock', 'flows.sqlite');
}

// ---------------------------------------------------------------------------------------------
// Rows

export function llmTools(r: FlowRow): string[] {
  if (!r.llm_tools) return [];
  try {
    const t: unknown = JSON.parse(r.llm_tools);
    return Array.isArray(t) ? t.map(String) : [];
  } catch {
    return [];
  }
}

/** "anthropic claude-sonnet-4-5; tokens in 472, out 89; stop tool_use; tools get_weather" */
function llmLine(r: FlowRow): string | null {
  if (!r.llm_provider) return null;
  const parts = [`${r.llm_provider} ${r.llm_model ?? '-'}`, `tokens in ${r.llm_input_tokens ?? '-'}, out ${r.llm_output_tokens ?? '-'}`, `stop ${r.llm_stop_reason ?? '-'}`];
  const tools = llmTools(r);
  if (tools.length) parts.push(`tools ${tools.join(', ')}`);
  return parts.join('; ');
}

export { type BodyRow, bodiesOf };

/** What was asked for: "POST https://host/path?q", or "CONNECT host:port" for a refused tunnel. */
type UrlParts = Pick<FlowRow, 'method' | 'scheme' | 'host' | 'port' | 'path' | 'query'>;

function requestLine(r: UrlParts): string {
  if (!r.method) return r.host ?? '-';
  if (r.method === 'CONNECT') return `CONNECT ${r.host?.includes(':') ? `[${r.host}]` : r.host}:${r.port ?? 443}`;
  return `${r.method} ${urlOf(r)}`;
}

export function urlOf(r: UrlParts): string {
  const scheme = r.scheme ?? 'https';
  const host = r.host?.includes(':') ? `[${r.host}]` : (r.host ?? '');
  const port = r.port === null || r.port === (scheme === 'https' ? 443 : 80) ? '' : `:${r.port}`;
  return `${scheme}://${host}${port}${r.path ?? '/'}${r.query !== null ? `?${r.query}` : ''}`;
}

export function headerPairs(json: string | null): { name: string; value: string }[] {
  if (!json) return [];
  const h = JSON.parse(json) as Record<string, string | string[]>;
  return Object.entries(h).flatMap(([name, v]) => [v].flat().map((value) => ({ name, value })));
}

const TEXTUAL = /^(text\/|application\/([\w.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded|yaml|x-yaml|csv|graphql|x-ndjson)\b)/i;

/** Text when the type says so, or when the bytes are valid UTF-8 without NULs. Never when still encoded. */
export function isText(b: BodyRow): boolean {
  if (b.encoding !== null || !b.data) return false;
  if (b.content_type && TEXTUAL.test(b.content_type)) return true;
  if (b.data.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b.data);
    return true;
  } catch {
    return false;
  }
}

/** Terminal-safe: control characters from an upstream (ANSI escapes, CR) are shown, not obeyed. */
function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function hexPreview(data: Buffer, max = 256): string {
  const lines: string[] = [];
  for (let i = 0; i < Math.min(data.length, max); i += 16) {
    const row = data.subarray(i, Math.min(i + 16, data.length, max));
    const hex = [...row].map((x) => x.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
    lines.push(`  ${i.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (data.length > max) lines.push(`  ... ${data.length - max} more bytes`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// list / show

async function list(reader: FlowReader, v: Values, io: Io): Promise<number> {
  const limit = positiveInt(v.limit ?? '50', '--limit', 1);
  const f = { ...filterOf(v), ...(v.instance !== undefined ? { instance: instanceOf(v.instance) } : {}) };
  // Without a cursor: the newest page (like tail); with --after: the next page forward.
  const rows = await reader.list(f, { order: f.after === undefined ? 'DESC' : 'ASC', limit });
  if (f.after === undefined) rows.reverse();
  // Which instance handled each flow, once the store has more than one.
  const several = (await reader.instances()).length > 1;
  const width = several ? Math.max(...rows.map((r) => (r.instance ?? '-').length), 1) : 0;
  for (const r of rows) {
    const what = requestLine(r);
    const inst = several ? `${clean(r.instance ?? '-').padEnd(width)}  ` : '';
    io.out(
      `${String(r.id).padStart(6)}  ${new Date(r.started_at).toISOString()}  ${r.decision.padEnd(6)} ${String(r.status ?? '-').padStart(3)}  ${inst}${clean(what)}${r.code ? `  (${r.code})` : ''}\n`,
    );
  }
  if (rows.length === limit) io.err(`more: --after ${rows[rows.length - 1].id}\n`);
  return 0;
}

/** An instance name as the filter takes it: the same characters store.instance allows. */
function instanceOf(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(name)) throw new UsageError('--instance must be an instance name (letters, digits, ".", "_", "-", ":")');
  return name;
}

async function show(reader: FlowReader, ref: string, io: Io): Promise<number> {
  const r = await reader.flow(ref);
  if (!r) return say(io.err, `airlock flows: no flow ${ref}`, 1, io);
  const lines = [
    `flow ${r.id} (${r.flow_id})  ${new Date(r.started_at).toISOString()}`,
    `  ${r.decision}  ${r.status ?? '-'}  ${r.protocol}  via ${r.entry} ${r.listener}  from ${r.client}${r.agent_user ? ` (agent ${r.agent_user})` : ''}`,
    `  ${requestLine(r)}`,
  ];
  if (r.instance) lines.push(`  instance ${r.instance}`);
  if (r.rule_id || r.code) lines.push(`  rule ${r.rule_id ?? '-'}${r.code ? `  code ${r.code}` : ''}`);
  if (r.reason) lines.push(`  reason: ${r.reason}`);
  if (r.error) lines.push(`  error: ${r.error}`);
  if (r.injected) lines.push(`  injected: ${(JSON.parse(r.injected) as string[]).join(', ')}`);
  const llm = llmLine(r);
  if (llm) lines.push(`  llm: ${llm}`);
  for (const f of await reader.findings(r.id)) lines.push(`  finding: ${f.rule_id}  ${f.action}  ${f.location}  ${f.preview ?? ''}`);
  lines.push(`  bytes up ${r.bytes_up}, down ${r.bytes_down}; ttfb ${r.ttfb_ms ?? '-'} ms, total ${r.total_ms ?? '-'} ms`);
  lines.push(`  hash ${r.hash ?? '-'}`, `  prev ${r.prev_hash || '-'}`);
  const bodies = await reader.bodies(r.id);
  for (const dir of ['request', 'response'] as const) {
    const headers = headerPairs(dir === 'request' ? r.request_headers : r.response_headers);
    if (headers.length) lines.push('', `${dir} headers`, ...headers.map((h) => `  ${h.name}: ${h.value}`));
    const b = bodies.find((x) => x.direction === dir);
    if (!b) continue;
    const data = b.data ?? Buffer.alloc(0);
    const notes = [b.content_type ?? 'no content-type', `${b.size} bytes`];
    if (b.encoding) notes.push(`still ${b.encoding}-encoded`);
    if (b.truncated) notes.push(`stored: first ${data.length} bytes`);
    lines.push('', `${dir} body (${notes.join(', ')})`);
    lines.push(isText(b) ? data.toString('utf8') : hexPreview(data));
  }
  io.out(clean(lines.join('\n')) + '\n');
  return 0;
}

// ---------------------------------------------------------------------------------------------
// export

/** A HAR document is HAR_HEAD, the entries joined by ",", then HAR_TAIL. */
export const HAR_HEAD = `{"log":{"version":"1.2","creator":{"name":"airlock","version":"0.1.0"},"pages":[],"entries":[`;
export const HAR_TAIL = ']}}\n';

/** Rows read per step of an export: the reader's pace (a pipe's backpressure) decides when the next is read. */
const EXPORT_CHUNK = 200;

async function exportFlows(reader: FlowReader, v: Values, io: Io): Promise<number> {
  const format = v.format ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'har') throw new UsageError('--format must be jsonl or har');
  const filter = { ...filterOf(v), ...(v.instance !== undefined ? { instance: instanceOf(v.instance) } : {}) };
  const limit = v.limit === undefined ? Infinity : positiveInt(v.limit, '--limit', 1);
  // SQLite: one read transaction, so the export is one snapshot of the store however long the reader takes.
  const db = reader.kind === 'sqlite' ? (reader as SqliteReader).db() : undefined;
  const toFile = v.out !== undefined && v.out !== '-';
  // Bodies and headers are sensitive: the export is readable by its owner only.
  const fd = toFile ? fs.openSync(v.out!, 'w', 0o600) : 1;
  let pending = '';
  const flush = async () => {
    if (!pending) return;
    const text = pending;
    pending = '';
    if (toFile) fs.writeSync(fd, text);
    else if (io.out(text) === false && io.drained) await io.drained();
  };
  let count = 0;
  let skipped = 0;
  const shown = progress(`exporting${toFile ? ` to ${v.out}` : ''}`);
  const total = process.stderr.isTTY && db ? countMatching(db, filter) : undefined;
  db?.exec('BEGIN');
  try {
    if (format === 'har') pending += HAR_HEAD;
    let cursor = filter.after ?? 0;
    let left = limit;
    for (;;) {
      const rows = left > 0 ? await reader.rows(filter, { after: cursor, order: 'ASC', limit: Math.min(EXPORT_CHUNK, left) }) : [];
      for (const r of rows) {
        cursor = r.id;
        left--;
        const bs = await reader.bodies(r.id);
        if (format === 'jsonl') {
          pending += JSON.stringify(jsonlRecord(r, bs)) + '\n';
          count++;
        } else if (r.method && r.host) {
          pending += (count ? ',' : '') + JSON.stringify(harEntry(r, bs));
          count++;
        } else skipped++; // a refused connection (bad TLS, garbage) has no HTTP request to describe
        if (pending.length >= 1 << 20) await flush();
      }
      shown.tick(count + skipped, total);
      if (rows.length < EXPORT_CHUNK || left <= 0) break;
      await flush();
    }
    if (format === 'har') pending += HAR_TAIL;
    await flush();
  } finally {
    db?.exec('COMMIT');
    shown.end();
    if (toFile) fs.closeSync(fd);
  }
  const note = skipped ? ` (${skipped} connection-level refusals without an HTTP request left out of HAR)` : '';
  io.err(`exported ${count} flows${toFile ? ` to ${v.out}` : ''}${note}\n`);
  return 0;
}

export function bodyJson(b: BodyRow): Record<string, unknown> {
  const data = b.data ?? Buffer.alloc(0);
  const text = isText(b);
  return {
    direction: b.direction,
    content_type: b.content_type,
    encoding: b.encoding,
    size: b.size,
    truncated: b.truncated === 1,
    stored_bytes: data.length,
    ...(text ? { text: data.toString('utf8') } : { base64: data.toString('base64') }),
  };
}

export function jsonlRecord(r: FlowRow, bodies: BodyRow[]): Record<string, unknown> {
  return {
    ...r,
    time: new Date(r.started_at).toISOString(),
    injected: r.injected ? JSON.parse(r.injected) : null,
    request_headers: r.request_headers ? JSON.parse(r.request_headers) : null,
    response_headers: r.response_headers ? JSON.parse(r.response_headers) : null,
    llm_tools: r.llm_tools ? llmTools(r) : null,
    bodies: bodies.map(bodyJson),
  };
}

export function harEntry(r: FlowRow, bodies: BodyRow[]): Record<string, unknown> {
  const req = bodies.find((b) => b.direction === 'request');
  const res = bodies.find((b) => b.direction === 'response');
  const httpVersion = r.protocol === 'h2' ? 'HTTP/2' : 'HTTP/1.1';
  const reqHeaders = headerPairs(r.request_headers);
  const resHeaders = headerPairs(r.response_headers);
  const total = r.total_ms ?? 0;
  const wait = Math.min(r.ttfb_ms ?? total, total);
  const query = r.query !== null ? [...new URLSearchParams(r.query)].map(([name, value]) => ({ name, value })) : [];
  const content: Record<string, unknown> = {
    size: res ? (res.truncated ? res.size : (res.data?.length ?? 0)) : 0,
    mimeType: res?.content_type ?? resHeaders.find((h) => h.name === 'content-type')?.value ?? '',
  };
  if (res) {
    const text = isText(res);
    content.text = (res.data ?? Buffer.alloc(0)).toString(text ? 'utf8' : 'base64');
    if (!text) content.encoding = 'base64';
    if (res.truncated) content.comment = `truncated: first ${res.data?.length ?? 0} of ${res.size} bytes stored`;
  }
  const entry: Record<string, unknown> = {
    startedDateTime: new Date(r.started_at).toISOString(),
    time: total,
    request: {
      method: r.method,
      url: urlOf(r),
      httpVersion,
      cookies: [],
      headers: reqHeaders,
      queryString: query,
      ...(req
        ? {
            postData: {
              mimeType: req.content_type ?? '',
              text: (req.data ?? Buffer.alloc(0)).toString(isText(req) ? 'utf8' : 'base64'),
              ...(isText(req) ? {} : { _encoding: 'base64' }),
              ...(req.truncated ? { comment: `truncated: first ${req.data?.length ?? 0} of ${req.size} bytes stored` } : {}),
            },
          }
        : {}),
      headersSize: -1,
      bodySize: r.bytes_up,
    },
    response: {
      status: r.status ?? 0,
      statusText: (r.status && STATUS_CODES[r.status]) || '',
      httpVersion,
      cookies: [],
      headers: resHeaders,
      content,
      redirectURL: resHeaders.find((h) => h.name === 'location')?.value ?? '',
      headersSize: -1,
      bodySize: r.bytes_down,
    },
    cache: {},
    timings: { send: 0, wait, receive: Math.max(0, total - wait) },
    _airlock: {
      id: r.id,
      flow_id: r.flow_id,
      decision: r.decision,
      rule: r.rule_id,
      code: r.code,
      reason: r.reason,
      hash: r.hash,
      ...(r.llm_provider
        ? {
            llm: {
              provider: r.llm_provider,
              model: r.llm_model,
              input_tokens: r.llm_input_tokens,
              output_tokens: r.llm_output_tokens,
              stop_reason: r.llm_stop_reason,
              tools: llmTools(r),
            },
          }
        : {}),
    },
  };
  return entry;
}

// ---------------------------------------------------------------------------------------------
// verify

async function verify(reader: FlowReader, io: Io): Promise<number> {
  const shown = progress('verifying');
  const total = process.stderr.isTTY && reader.kind === 'sqlite' ? countMatching((reader as SqliteReader).db(), {}) : undefined;
  const r = await reader.verify((n) => shown.tick(n, total));
  shown.end();
  if (!r.ok) return say(io.err, `${r.problem}\n${r.verified} flows before it verified`, 1, io);
  const named = r.chains.filter((c) => c.instance !== null);
  const notes: string[] = [];
  if (r.unhashed) notes.push(`${r.unhashed} flows from before schema 2 carry no hash`);
  if (r.chains.length === 1 && r.startsAfterDeleted !== null) notes.push(`the chain starts at flow ${r.startsAfterDeleted} (older flows were deleted)`);
  io.out(`ok: ${r.verified} flows verified${r.chains.length > 1 ? ` in ${r.chains.length} chains` : r.head ? `; head ${r.head}` : ''}\n`);
  if (r.chains.length > 1 || named.length) {
    for (const c of r.chains) {
      const name = c.instance === null ? '(flows from before instances were recorded)' : `instance ${c.instance}`;
      const where =
        c.deletedHead !== undefined
          ? `every flow deleted by retention (its head was flow ${c.deletedHead})`
          : `${c.verified} flows${c.head ? `, head ${c.head}` : ''}${c.startsAfterDeleted !== null ? `; starts at flow ${c.startsAfterDeleted} (older flows were deleted)` : ''}`;
      io.out(`  ${clean(name)}: ${where}\n`);
    }
  }
  for (const n of notes) io.out(`note: ${n}\n`);
  return 0;
}
