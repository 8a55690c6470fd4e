// SIGHUP: re-read the policy file. A policy with any problem is not applied (the one in force
// stays, and every problem is reported); a valid one applies to the next request on every
// connection (requests under way keep the policy they arrived with). Listeners, data dir, store
// and CA settings need a restart and are kept.
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { loadPolicyText } from '../policies/load.ts';
import type { Config } from '../policies/types.ts';
import type { ConfigRef } from './config-ref.ts';

/** What follows the policy in force: the upstream dialer, or (with workers) every worker, given the text that was validated. */
export interface ReloadTarget {
  reconfigure(next: Config, text: string): void;
}

export type ReloadResult = { ok: true; restartNeeded: string[] } | { ok: false; errors: string[] };

const RESTART_ONLY = ['listen', 'routes', 'dataDir', 'store', 'ca', 'limits', 'workers'] as const;

/** `text`: the policy file's content as another process read and validated it (workers); else the file is read now. */
export function reloadPolicy(ref: ConfigRef, target: ReloadTarget, text?: string): ReloadResult {
  const old = ref.current;
  if (!old.sourcePath) return { ok: false, errors: ['this policy was not loaded from a file'] };
  if (text === undefined) {
    try {
      text = readFileSync(old.sourcePath, 'utf8');
    } catch (err) {
      return { ok: false, errors: [`${old.sourcePath}: cannot read policy file (${(err as NodeJS.ErrnoException).code ?? 'error'})`] };
    }
  }
  const r = loadPolicyText(text, old.sourcePath, { defaultDataDir: old.dataDir });
  if (!r.ok) return { ok: false, errors: r.errors.map(restartHint) };
  const restartNeeded = RESTART_ONLY.filter((k) => !isDeepStrictEqual(plain(r.config[k]), plain(old[k])));
  // Keep what cannot change while running, so ref.current always describes what airlock does.
  const next: Config = Object.freeze({ ...r.config, ...Object.fromEntries(RESTART_ONLY.map((k) => [k, old[k]])) });
  target.reconfigure(next, text);
  ref.current = next;
  return { ok: true, restartNeeded: [...restartNeeded] };
}

/** airlock's environment is fixed at start: a secret added as env:NAME since cannot appear by reloading. */
function restartHint(problem: string): string {
  return /environment variable \S+ is not set$/.test(problem)
    ? `${problem} in airlock's environment (read once, at start: set it there and restart airlock; a reload cannot see it)`
    : problem;
}

/** URLs compare by their text. */
function plain(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v));
}
