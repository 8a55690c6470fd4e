// airlock ui --config FILE: the web UI (and its JSON API) as a process of its own, reading the
// store the policy names (the SQLite file, or PostgreSQL shared by several airlock instances), so
// auditors need no access to the proxies, and the proxies' API keys stay out of this process.
// airlock ui token add|list|revoke: who may log in to the web UI (and use its API). Works on the
// data dir's files directly, so it needs no running airlock and no policy secrets; a running
// airlock (or UI) sees the change on the next request.
import fs from 'node:fs';
import path from 'node:path';
import { parseCli } from './args.ts';
import { UsageError } from '../flow-filter.ts';
import { parse as parseYaml } from 'yaml';
import { parseListen } from '../../policies/listen.ts';
import { loadStoreSection } from '../../policies/load-store.ts';
import type { ListenAddr } from '../../policies/types.ts';
import { listen } from '../io/listen.ts';
import { logEvent } from '../log.ts';
import { describeStore } from '../store/open-store.ts';
import { openReader } from '../store/open-reader.ts';
import { ensureUiToken } from '../../web-ui/token.ts';
import { addToken, INITIAL, type Role, ROLES, revokeToken, UiTokens } from '../../web-ui/tokens.ts';

export const UI_HELP = `usage: airlock ui [--config FILE] [--listen ADDR]
       airlock ui token add|list|revoke [options]

Without a subcommand: runs the web UI and its JSON API on their own, reading the flow store the
policy names (its data_dir and store sections only; PostgreSQL when it has store.postgres, whose
URL source must be readable here). It listens on --listen ADDR (host:port or unix:/path), else
the policy's listen.ui. Tokens are those of the data dir (below); on a data dir without any, a
first admin token is made and printed once. The policy page and retention are on the proxies' UI.
SIGTERM or SIGINT stops it.

  token add --name NAME [--role auditor|admin]   make a token (printed once; only its sha256 is kept)
  token list                                     names, roles, creation times (never the tokens)
  token revoke NAME                              remove a token; its sessions end at their next request
                                                 ("initial" is the first-start admin token: the next
                                                 start makes and prints a new one)

Roles: auditor reads everything (flows, bodies, findings, stats, policy, CA, exports); admin may
also reload the policy and run retention. Both may use the JSON API (read-only).

The data dir comes from --data-dir DIR, or from the policy given with --config FILE
(its data_dir only; default: ./.airlock).`;

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const stdio: Io = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) };

function dataDirOf(v: { 'data-dir'?: string; config?: string }): string {
  if (v['data-dir']) return path.resolve(v['data-dir']);
  if (v.config) {
    const file = path.resolve(v.config);
    const doc = (parseYaml(fs.readFileSync(file, 'utf8')) ?? {}) as { data_dir?: unknown };
    return typeof doc.data_dir === 'string' ? path.resolve(path.dirname(file), doc.data_dir) : path.dirname(file);
  }
  return path.resolve('.airlock');
}

export async function uiCommand(args: string[], io: Io = stdio): Promise<number> {
  try {
    const { values, positionals } = parseCli(args, {
      name: { type: 'string' },
      role: { type: 'string' },
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      listen: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    const [what, sub, ...rest] = positionals;
    if (values.help) return (io.out(UI_HELP + '\n'), 0);
    if (what === undefined && values.config) return await serve(values.config, values.listen, io);
    if (what !== 'token' || !sub) return (io.err(UI_HELP + '\n'), 2);
    const dir = dataDirOf(values);
    switch (sub) {
      case 'add': {
        if (!values.name || rest.length) return (io.err('airlock ui token add: --name NAME is required\n'), 2);
        const role = (values.role ?? 'auditor') as Role;
        if (!ROLES.includes(role)) return (io.err(`airlock ui token add: --role must be ${ROLES.join(' or ')}\n`), 2);
        const { token, entry } = addToken(dir, values.name, role);
        io.out(`${token}\n`);
        io.err(`token "${entry.name}" (${entry.role}) added to ${dir}; shown only now, keep it\n`);
        return 0;
      }
      case 'list': {
        for (const t of new UiTokens(dir).list()) {
          io.out(`${t.name.padEnd(20)} ${t.role.padEnd(8)} ${t.created ?? '(first start)'}  sha256 ${t.sha256.slice(0, 12)}…\n`);
        }
        return 0;
      }
      case 'revoke': {
        if (rest.length !== 1) return (io.err('airlock ui token revoke: give one NAME\n'), 2);
        if (!revokeToken(dir, rest[0])) return (io.err(`airlock ui token revoke: no token named "${rest[0]}"\n`), 1);
        io.err(`token "${rest[0]}" revoked${rest[0] === INITIAL ? '; the next start makes and prints a new first token' : ''}\n`);
        return 0;
      }
      default:
        return (io.err(UI_HELP + '\n'), 2);
    }
  } catch (e) {
    if (e instanceof UsageError) return (io.err(`airlock ui: ${e.message}\n\n${UI_HELP}\n`), 2);
    io.err(`airlock ui: ${(e as Error).message}\n`);
    return 1;
  }
}

/** Runs the UI until SIGTERM or SIGINT. */
async function serve(config: string, listenText: string | undefined, io: Io): Promise<number> {
  const r = loadStoreSection(path.resolve(config));
  if (!r.ok) return (io.err(`airlock ui: the policy has ${r.errors.length} problem(s):\n  ${r.errors.join('\n  ')}\n`), 1);
  let addr: ListenAddr | undefined = r.ui;
  if (listenText !== undefined) {
    const l = parseListen(listenText, process.cwd());
    if (!l.ok) return (io.err(`airlock ui: --listen: ${l.problem}\n`), 2);
    addr = l.addr;
  }
  if (!addr) return (io.err('airlock ui: nothing to listen on: give --listen ADDR or set listen.ui in the policy\n'), 2);
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  const { token } = ensureUiToken(r.dataDir);
  // Hono and the UI load only for this command (the proxy's start path never loads them unless its UI is on).
  const { createUiServer } = await import('../../web-ui/server.ts');
  const server = createUiServer({ reader: openReader(r.store), dataDir: r.dataDir });
  const bound = await listen(server, addr);
  io.out(
    [
      'airlock web UI is running',
      `  web UI          http://${bound.address}/   (log in with ${token ? `admin token ${token}; shown only now, keep it; also the API's Bearer token` : 'a token of "airlock ui token add"'})`,
      `  flow store      ${describeStore(r.store)}`,
      `  policy          ${path.relative(process.cwd(), r.sourcePath) || r.sourcePath}`,
      '',
      '',
    ].join('\n'),
  );
  logEvent('info', 'web UI started', { listen: bound.address, store: describeStore(r.store) });
  await stopped;
  await bound.stopAccepting();
  await bound.close();
  return 0;
}
