// airlock ui token add|list|revoke: who may log in to the web UI (and use its API).
// Works on the data dir's files directly, so it needs no running airlock and no policy secrets;
// a running airlock sees the change on the next request.
import fs from 'node:fs';
import path from 'node:path';
import { parseCli } from './args.ts';
import { UsageError } from '../flow-filter.ts';
import { parse as parseYaml } from 'yaml';
import { addToken, INITIAL, type Role, ROLES, revokeToken, UiTokens } from '../../web-ui/tokens.ts';

export const UI_HELP = `usage: airlock ui token add|list|revoke [options]

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
      help: { type: 'boolean', short: 'h' },
    });
    const [what, sub, ...rest] = positionals;
    if (values.help) return (io.out(UI_HELP + '\n'), 0);
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
