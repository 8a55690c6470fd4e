// exec: secrets for every worker, run in the supervisor: workers refresh their cached value at
// about the same time (they fetched it first together), so a run that ended within a quarter of
// the cache lifetime, or is still running, answers them all. Failures are not kept.
import { type CommandResult, runLocally } from '../../policies/secret-exec.ts';

export function sharedCommands(): (argv: string[], cwd: string, timeoutMs: number, cacheMs: number) => Promise<CommandResult> {
  const runs = new Map<string, { at: number; result: Promise<CommandResult> }>();
  return (argv, cwd, timeoutMs, cacheMs) => {
    const key = JSON.stringify([argv, cwd]);
    const now = Date.now();
    const last = runs.get(key);
    if (last && (last.at < 0 || now - last.at < cacheMs / 4)) return last.result;
    const entry = { at: -1, result: runLocally(argv, cwd, timeoutMs) };
    runs.set(key, entry);
    void entry.result.then((r) => {
      if (r.ok) entry.at = Date.now();
      else runs.delete(key);
    });
    return entry.result;
  };
}
