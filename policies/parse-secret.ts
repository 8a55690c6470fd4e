// A secret source as written in a policy: "env:NAME", "file:PATH", "exec:COMMAND ARGS", or for
// exec with options { exec: [COMMAND, ARG...], timeout: 10s, cache: 5m }. Each is opened (and
// env/file read) at load; problems carry the key's path.
import { ExecSource, findExecutable } from './secret-exec.ts';
import { checkKeys, join, mapping, type Problems } from './problems.ts';
import { type Got, openSecretSource, SOURCE_FORMS, type SecretSource } from './secrets.ts';
import { parseDuration } from './units.ts';

export interface SourceContext {
  baseDir: string;
  env: NodeJS.ProcessEnv;
  p: Problems;
  /** One source object per text, so every header and placeholder naming it shares it (and its cache). */
  secrets?: Map<string, Got<SecretSource>>;
}

const EXEC_TIMEOUT_MS = 10_000;
const EXEC_CACHE_MS = 5 * 60_000;

/** The source, or undefined after adding the problem at `path`. */
export function parseSource(raw: unknown, path: string, ctx: SourceContext): SecretSource | undefined {
  const got = openSource(raw, path, ctx);
  if (got === undefined) return undefined;
  if (!got.ok) {
    ctx.p.add(path, got.problem);
    return undefined;
  }
  return got.value;
}

function openSource(raw: unknown, path: string, ctx: SourceContext): Got<SecretSource> | undefined {
  if (typeof raw === 'string') {
    const text = raw.trim();
    return once(ctx, text, () => (text.startsWith('exec:') ? openExec(text, text.slice(5).trim().split(/\s+/).filter(Boolean), EXEC_TIMEOUT_MS, EXEC_CACHE_MS, ctx) : openSecretSource(text, ctx.env, ctx.baseDir)));
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, problem: SOURCE_FORMS };
  const fields = mapping(raw, path, ctx.p);
  if (!fields) return undefined;
  const before = ctx.p.list.length;
  checkKeys(fields, ['exec', 'timeout', 'cache'], path, ctx.p);
  const command = fields.get('exec');
  const argv = typeof command === 'string' ? command.trim().split(/\s+/).filter(Boolean) : Array.isArray(command) && command.every((a) => typeof a === 'string') ? (command as string[]) : undefined;
  if (!argv || argv.length === 0 || argv[0] === '') ctx.p.add(join(path, 'exec'), 'expected a command: a string, or a list of the program and its arguments');
  const timeoutMs = duration(fields.get('timeout'), join(path, 'timeout'), EXEC_TIMEOUT_MS, ctx.p);
  const cacheMs = duration(fields.get('cache'), join(path, 'cache'), EXEC_CACHE_MS, ctx.p);
  if (ctx.p.list.length > before || !argv) return undefined;
  return once(ctx, `exec:${JSON.stringify([argv, timeoutMs, cacheMs])}`, () => openExec(`exec:${argv.join(' ')}`, argv, timeoutMs, cacheMs, ctx));
}

function once(ctx: SourceContext, key: string, open: () => Got<SecretSource>): Got<SecretSource> {
  ctx.secrets ??= new Map();
  let got = ctx.secrets.get(key);
  if (!got) ctx.secrets.set(key, (got = open()));
  return got;
}

/**
 * One source per command for the life of the process: a policy reload (or check-config) that
 * names the same command with the same settings keeps its cached value instead of running it again.
 */
const execSources = new Map<string, ExecSource>();

function openExec(name: string, argv: string[], timeoutMs: number, cacheMs: number, ctx: SourceContext): Got<SecretSource> {
  if (argv.length === 0) return { ok: false, problem: SOURCE_FORMS };
  const exe = findExecutable(argv[0], ctx.baseDir, ctx.env);
  if (!exe.ok) return exe;
  const options = { argv: [exe.value, ...argv.slice(1)], cwd: ctx.baseDir, timeoutMs, cacheMs };
  const key = JSON.stringify([name, options]);
  let source = execSources.get(key);
  if (!source) execSources.set(key, (source = new ExecSource(name, options)));
  return { ok: true, value: source };
}

function duration(value: unknown, path: string, fallback: number, p: Problems): number {
  if (value === undefined || value === null) return fallback;
  const d = parseDuration(value);
  if (!d.ok) p.add(path, d.problem);
  else if (d.ms <= 0) p.add(path, 'must be longer than 0s');
  return d.ok && d.ms > 0 ? d.ms : fallback;
}
