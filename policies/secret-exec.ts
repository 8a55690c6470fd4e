// exec: secrets: a command whose standard output is the value (a vault or cloud CLI, a script).
// The command is found and checked at load; it runs when the value is first needed, its value is
// reused for `cache` and fetched again ahead of expiry in the background, so requests wait for
// it only the first time (or when it failed). Its output and error output never reach a log or
// an error message: only how it ended.
import { execFile } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, resolve } from 'node:path';
import { type Got, type Live, Secret, SecretSource } from './secrets.ts';

/** Output beyond this is refused: a secret is small, a runaway command is not. */
const MAX_OUTPUT = 64 * 1024;
/** A failed run is not repeated for every request in this window. */
const FAILURE_HOLD_MS = 1000;

export interface ExecOptions {
  argv: string[];
  cwd: string;
  timeoutMs: number;
  cacheMs: number;
  /** The clock (tests). */
  now?: () => number;
}

export class ExecSource extends SecretSource {
  #value?: { got: Got<Secret>; at: number };
  #failure?: { got: Got<Secret>; at: number };
  #running?: Promise<Got<Secret>>;

  constructor(
    name: string,
    readonly options: ExecOptions,
  ) {
    super(name);
  }

  current(): Live<Secret> {
    const now = (this.options.now ?? Date.now)();
    const v = this.#value;
    const failed = this.#failure !== undefined && now - this.#failure.at < FAILURE_HOLD_MS;
    if (v && now - v.at < this.options.cacheMs) {
      // The last quarter of the cache lifetime: serve the value, fetch the next one meanwhile.
      if (now - v.at >= this.options.cacheMs * 0.75 && !failed) void this.#run();
      return v.got;
    }
    if (failed) return this.#failure!.got;
    return this.#run();
  }

  #run(): Promise<Got<Secret>> {
    this.#running ??= runCommand(this.name, this.options).then((got) => {
      this.#running = undefined;
      const at = (this.options.now ?? Date.now)();
      if (got.ok) {
        this.#value = { got, at };
        this.#failure = undefined;
      } else this.#failure = { got, at };
      return got;
    });
    return this.#running;
  }
}

/** How a command ended: its output, or why there is none (never its output then). */
export type CommandResult = { ok: true; output: string } | { ok: false; how: string };
/** Runs a command for its output: here, or (in a worker) through the supervisor, which runs it once for all workers. */
/** `now`: the caller's clock (ms), against which a shared run's age is judged. */
export type CommandRunner = (argv: string[], cwd: string, timeoutMs: number, cacheMs: number, now: number) => Promise<CommandResult>;

/**
 * One run answers every caller in this process and, in a supervisor, every worker: a run still
 * going, or one that succeeded within a quarter of the cache lifetime (workers and the policy
 * check at load fetch a value at about the same time), is shared. Failures are not kept.
 */
export const runShared: CommandRunner = (() => {
  const runs = new Map<string, { at: number; result: Promise<CommandResult> }>();
  return (argv, cwd, timeoutMs, cacheMs, now) => {
    const key = JSON.stringify([argv, cwd]);
    const last = runs.get(key);
    if (last && (last.at < 0 || (now >= last.at && now - last.at < cacheMs / 4))) return last.result;
    const entry = { at: -1, started: now, result: runLocally(argv, cwd, timeoutMs) };
    runs.set(key, entry);
    void entry.result.then((r) => {
      if (r.ok) entry.at = entry.started;
      else runs.delete(key);
    });
    return entry.result;
  };
})();

let runner: CommandRunner = runShared;

/** A worker's commands run in its supervisor (proxy/workers/): one run serves every worker. */
export function useCommandRunner(r: CommandRunner): void {
  runner = r;
}

async function runCommand(name: string, o: ExecOptions): Promise<Got<Secret>> {
  const r = await runner(o.argv, o.cwd, o.timeoutMs, o.cacheMs, (o.now ?? Date.now)());
  if (!r.ok) return { ok: false, problem: `${name} ${r.how} (its output is not shown)` };
  const value = r.output.replace(/\r?\n$/, '');
  if (value === '') return { ok: false, problem: `${name} printed nothing` };
  return { ok: true, value: new Secret(name, value) };
}

export function runLocally(argv: string[], cwd: string, timeoutMs: number): Promise<CommandResult> {
  return new Promise((done) => {
    execFile(argv[0], argv.slice(1), { cwd, timeout: timeoutMs, maxBuffer: MAX_OUTPUT, encoding: 'utf8', windowsHide: true }, (err, stdout) => {
      if (!err) return done({ ok: true, output: stdout });
      const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null; code?: string | number };
      const how =
        e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER'
          ? `printed more than ${MAX_OUTPUT} bytes`
          : e.killed && e.signal
            ? `did not finish within ${timeoutMs / 1000}s`
            : typeof e.code === 'number'
              ? `exited with code ${e.code}`
              : e.signal
                ? `was killed by ${e.signal}`
                : `could not run (${e.code ?? 'error'})`;
      done({ ok: false, how });
    });
  });
}

/**
 * The executable a command names: a path (relative to the policy's directory) or a name looked up
 * on PATH. A problem when it is missing or not executable.
 */
export function findExecutable(command: string, baseDir: string, env: NodeJS.ProcessEnv): Got<string> {
  const candidates = command.includes('/')
    ? [isAbsolute(command) ? command : resolve(baseDir, command)]
    : (env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => resolve(dir, command));
  for (const file of candidates) {
    try {
      if (!statSync(file).isFile()) continue;
      accessSync(file, constants.X_OK);
      return { ok: true, value: file };
    } catch {
      // not this one
    }
  }
  return { ok: false, problem: command.includes('/') ? `${candidates[0]} is not an executable file` : `command "${command}" not found on PATH` };
}
