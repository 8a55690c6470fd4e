// airlock policy suggest|replay|presets: write a policy from what agents did, test a candidate
// against it before it ships. Both read flow rows only (store/sqlite-queries.ts flowFacts), decide with
// the proxy's own functions (policies/decide.ts), and send no traffic.
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { loadPolicyFile } from '../../policies/load.ts';
import { PRESET_NAMES, PRESETS } from '../../policies/presets/index.ts';
import { Replay, type ReplayResult } from '../../policies/replay.ts';
import { Suggest, suggestionYaml } from '../../policies/suggest.ts';
import type { Config } from '../../policies/types.ts';
import { countMatching, flowFacts } from '../store/sqlite-queries.ts';
import { err, out } from './output.ts';
import { filterOf, UsageError } from '../flow-filter.ts';
import { openStore, storePathOf } from './flows.ts';
import { parseCli, unknownSubcommand } from './args.ts';
import { progress } from './progress.ts';

export const POLICY_HELP = `usage: airlock policy suggest|replay|presets [options]

  suggest [filters] [--all]          a policy fragment (YAML for "hosts:") covering what recorded
                                     flows needed: hosts (many subdomains collapse to "*.parent"),
                                     ports, methods and path prefixes, each rule with its counts and
                                     example flow ids; review it, then paste it into the policy.
                                     Flows the policy in force (--config) allows already are left
                                     out; --all includes them
  replay CANDIDATE.yaml [filters]    decide every recorded flow with the candidate policy and list
                                     what changes: newly denied and newly allowed, by code and rule,
                                     with examples. Nothing is sent anywhere.
    --fail-on any|denied|allowed|none  exit 1 when anything changes (any, the default), only when
                                     something is newly denied, or newly allowed; none: exit 0
    --format text|json               json: the whole result as one JSON document
  presets [NAME]                     the presets "include:" can name, or one preset's rules

filters: --since T, --until T (ISO or 30m, 24h, 7d), --agent USER, --host GLOB

The store comes from --db FILE, --data-dir DIR, or the policy given with --config FILE (for
replay without these: the candidate's own data dir). Secrets the policies name are not read:
"env:" sources stand in as set (a "file:" source must still be readable).
Exit codes: 0 ok (replay: no change that --fail-on counts), 1 replay found changes or an error, 2 bad usage.`;

const OPTIONS = {
  db: { type: 'string' },
  'data-dir': { type: 'string' },
  config: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  agent: { type: 'string' },
  host: { type: 'string' },
  all: { type: 'boolean' },
  'fail-on': { type: 'string' },
  format: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const SUBCOMMANDS = ['suggest', 'replay', 'presets'];

export async function policyCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub) throw new UsageError(`which subcommand? ${SUBCOMMANDS.join(', ')}`);
  if (!SUBCOMMANDS.includes(sub)) throw unknownSubcommand('subcommand', sub, SUBCOMMANDS);
  const { values, positionals } = parseCli(rest, OPTIONS);
  if (values.help) return out(POLICY_HELP, 0);
  if (sub === 'presets') return presets(positionals);
  const filter = filterOf({ since: values.since, until: values.until, agent: values.agent, host: values.host });
  if (sub === 'suggest') {
    if (positionals.length) throw new UsageError(`suggest takes no file (got ${positionals[0]})`);
    const current = values.config ? loadWithoutSecrets(values.config) : undefined;
    return withStore(storePathOf(values), (db) => suggest(db, filter, current, values));
  }
  if (positionals.length !== 1) throw new UsageError('replay takes one candidate policy file');
  const failOn = values['fail-on'] ?? 'any';
  if (!['any', 'denied', 'allowed', 'none'].includes(failOn)) throw new UsageError('--fail-on must be any, denied, allowed or none');
  const format = values.format ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError('--format must be text or json');
  const candidate = loadWithoutSecrets(positionals[0]);
  const store = values.db || values['data-dir'] || values.config ? storePathOf(values) : candidate.store.path;
  return withStore(store, (db) => {
    const r = replay(db, filter, candidate);
    process.stdout.write(format === 'json' ? JSON.stringify({ candidate: path.resolve(positionals[0]), ...r }, null, 2) + '\n' : replayText(r, positionals[0]));
    const changed = failOn === 'any' ? r.newlyDenied + r.newlyAllowed : failOn === 'denied' ? r.newlyDenied : failOn === 'allowed' ? r.newlyAllowed : 0;
    return changed > 0 ? 1 : 0;
  });
}

/** A policy as the proxy would load it, except that every env: secret stands in as set: replay and suggest never need one. */
function loadWithoutSecrets(file: string): Config {
  if (!fs.existsSync(file)) throw new Error(`no policy file ${file}`);
  const env = new Proxy({} as NodeJS.ProcessEnv, { get: (_t, k) => (typeof k === 'string' ? 'airlock-stand-in-secret' : undefined) });
  const r = loadPolicyFile(path.resolve(file), { env });
  if (!r.ok) throw new Error(`${file}: ${r.errors.length} problem(s):\n  ${r.errors.join('\n  ')}`);
  return r.config;
}

function withStore(file: string, fn: (db: Database.Database) => number): number {
  const db = openStore(file);
  // One read transaction: one snapshot of the store, however long the walk takes.
  db.exec('BEGIN');
  try {
    return fn(db);
  } finally {
    db.exec('COMMIT');
    db.close();
  }
}

function suggest(db: Database.Database, filter: ReturnType<typeof filterOf>, current: Config | undefined, v: { all?: boolean; agent?: string; since?: string }): number {
  const s = new Suggest({ current: v.all ? undefined : current, agent: v.agent });
  const shown = progress('reading flows');
  const total = process.stderr.isTTY ? countMatching(db, filter) : undefined;
  let n = 0;
  for (const f of flowFacts(db, filter)) {
    s.add(f);
    if (++n % 1000 === 0) shown.tick(n, total);
  }
  shown.end();
  const c = s.counts();
  const rules = s.rules();
  const when = c.from === null ? '' : ` from ${new Date(c.from).toISOString()} to ${new Date(c.to!).toISOString()}`;
  const header = [
    `airlock policy suggest: ${c.used} of ${c.read} flows${when}${v.agent ? ` of agent ${v.agent}` : ''}${current && !v.all ? `, leaving out what ${path.basename(current.sourcePath ?? 'the policy')} allows already` : ''}`,
    'Each rule allows what the flows used and no more. Review it (a denied flow may be an agent going',
    'somewhere it should not), then paste it under "hosts:" in the policy.',
  ];
  process.stdout.write(suggestionYaml(rules, header));
  err(`${rules.length} rule${rules.length === 1 ? '' : 's'} suggested from ${c.used} flow${c.used === 1 ? '' : 's'}`, 0);
  return 0;
}

function replay(db: Database.Database, filter: ReturnType<typeof filterOf>, candidate: Config): ReplayResult {
  const r = new Replay(candidate);
  const shown = progress('replaying');
  const total = process.stderr.isTTY ? countMatching(db, filter) : undefined;
  let n = 0;
  for (const f of flowFacts(db, filter)) {
    r.add(f);
    if (++n % 1000 === 0) shown.tick(n, total);
  }
  shown.end();
  return r.result();
}

export function replayText(r: ReplayResult, candidate: string): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const lines = [
    `${candidate}: ${n(r.flows)} flows replayed: ${n(r.newlyDenied)} newly denied, ${n(r.newlyAllowed)} newly allowed, ` +
      `${n(r.unchanged.allowed + r.unchanged.denied)} unchanged (${n(r.unchanged.allowed)} allowed, ${n(r.unchanged.denied)} denied), ${n(r.skipped)} not decided by the policy`,
  ];
  for (const change of ['newly_denied', 'newly_allowed'] as const) {
    const groups = r.groups.filter((g) => g.change === change);
    if (!groups.length) continue;
    lines.push('', `${change === 'newly_denied' ? 'newly denied' : 'newly allowed'}:`);
    for (const g of groups) {
      const why = change === 'newly_denied' ? `${g.code}${g.rule ? ` (rule ${g.rule})` : ''}` : `by rule ${g.rule}`;
      lines.push(`  ${why}: ${n(g.count)} flow${g.count === 1 ? '' : 's'}`);
      for (const e of g.examples) lines.push(`    flow ${e.id}  ${e.what}`);
    }
  }
  return lines.join('\n') + '\n';
}

function presets(names: string[]): number {
  if (!names.length) {
    const w = Math.max(...PRESET_NAMES.map((p) => p.length));
    return out(PRESET_NAMES.map((p) => `${p.padEnd(w)}  ${PRESETS[p].summary}`).join('\n'), 0);
  }
  for (const name of names) if (!PRESETS[name]) throw unknownSubcommand('preset', name, PRESET_NAMES);
  return out(names.map((name) => presetYaml(name)).join('\n'), 0);
}

/** A preset as the host rules it adds, in the policy's YAML. */
export function presetYaml(name: string): string {
  const p = PRESETS[name];
  const lines = [`# ${name}: ${p.summary}`];
  if (p.credentialHeader) lines.push(`# include: [{ preset: ${name}, secret: env:NAME }] injects the secret as ${p.credentialHeader} on the rule marked "credential"`);
  lines.push('hosts:');
  for (const r of p.hosts) {
    lines.push(`  - name: ${r.name}${r.credential ? '   # credential' : ''}`, `    match: ${JSON.stringify(r.match)}`);
    if (r.ports) lines.push(`    ports: [${r.ports.join(', ')}]`);
    if (r.methods) lines.push(`    methods: [${r.methods.join(', ')}]`);
    if (r.paths) lines.push(`    paths: [${r.paths.map((x) => JSON.stringify(x)).join(', ')}]`);
    if (r.websocket === false) lines.push('    websocket: false');
  }
  return lines.join('\n') + '\n';
}
