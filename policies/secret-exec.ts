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

function runCommand(name: string, o: ExecOptions): Promise<Got<Secret>> {
  return new Promise((done) => {
    execFile(
      o.argv[0],
      o.argv.slice(1),
      { cwd: o.cwd, timeout: o.timeoutMs, maxBuffer: MAX_OUTPUT, encoding: 'utf8', windowsHide: true },
      (err, stdout) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null; code?: string | number };
          const how =
            e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER'
              ? `printed more than ${MAX_OUTPUT} bytes`
              : e.killed && e.signal
                ? `did not finish within ${o.timeoutMs / 1000}s`
                : typeof e.code === 'number'
                  ? `exited with code ${e.code}`
                  : e.signal
                    ? `was killed by ${e.signal}`
                    : `could not run (${e.code ?? 'error'})`;
          return done({ ok: false, problem: `${name} ${how} (its output is not shown)` });
        }
        const value = stdout.replace(/\r?\n$/, '');
        if (value === '') return done({ ok: false, problem: `${name} printed nothing` });
        done({ ok: true, value: new Secret(name, value) });
      },
    );
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
