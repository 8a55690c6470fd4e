// Secrets named in a policy and where each comes from: env:NAME (read at load), file:PATH (read at
// load and again whenever the file changes: a Kubernetes secret mount rotates under a running
// airlock), exec:COMMAND (its output, cached for a while; policies/secret-exec.ts). A value sits
// in a #private field, so JSON.stringify, console.log and string templates only show the name.
import { type FSWatcher, readFileSync, statSync, watch } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { inspect } from 'node:util';

export class Secret {
  readonly name: string;
  readonly #value: string;

  constructor(name: string, value: string) {
    this.name = name;
    this.#value = value;
  }

  /** The real value. Call only where it is written to the upstream connection. */
  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return `[secret:${this.name}]`;
  }

  toString(): string {
    return this.toJSON();
  }

  [inspect.custom](): string {
    return this.toJSON();
  }
}

/** A value, or why there is none (never with secret content). */
export type Got<T> = { ok: true; value: T } | { ok: false; problem: string };
/** Synchronous when the value is at hand, a promise while it is being fetched. */
export type Live<T> = Got<T> | Promise<Got<T>>;

/** Where a secret comes from. Prints as its name, like Secret. */
export abstract class SecretSource {
  constructor(readonly name: string) {}

  /** The value to use now. */
  abstract current(): Live<Secret>;

  toJSON(): string {
    return `[secret:${this.name}]`;
  }

  toString(): string {
    return this.toJSON();
  }

  [inspect.custom](): string {
    return this.toJSON();
  }
}

/** A value known at load (env:), or given directly (tests, benchmarks). */
export class FixedSource extends SecretSource {
  readonly #got: Got<Secret>;

  constructor(name: string, value: string) {
    super(name);
    this.#got = { ok: true, value: new Secret(name, value) };
  }

  current(): Got<Secret> {
    return this.#got;
  }
}

/**
 * Changes in a directory, counted: one inotify watch per directory holding a file: secret (shared,
 * kept for the life of the process), so a request does not pay a stat to learn nothing changed.
 */
interface DirWatch {
  changes: number;
  /** false when the directory cannot be watched: every use stats the file. */
  live: boolean;
}

const dirWatches = new Map<string, DirWatch>();

function watchDir(dir: string): DirWatch {
  let w = dirWatches.get(dir);
  if (!w) {
    const state: DirWatch = { changes: 0, live: true };
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(dir, { persistent: false }, () => state.changes++);
      watcher.on('error', () => (state.live = false));
    } catch {
      state.live = false;
    }
    dirWatches.set(dir, (w = state));
  }
  return w;
}

/** Without a change event, a file is still looked at this often (a missed event costs at most this). */
const RECHECK_MS = 1000;

/**
 * A file read again when it changes: an edit, an editor's rename, a Kubernetes `..data` symlink
 * swap or a removal shows as an event on its directory, and the next use compares device, inode,
 * size and times (and re-reads on a difference), so a new value applies from the next request.
 * A file that disappears fails closed.
 */
export class FileSource extends SecretSource {
  #stamp = '';
  #got: Got<Secret> = { ok: false, problem: 'not read yet' };
  readonly #dir: DirWatch;
  #seen = -1;
  #checkedAt = 0;

  constructor(
    name: string,
    readonly path: string,
  ) {
    super(name);
    this.#dir = watchDir(dirname(path));
  }

  current(): Got<Secret> {
    const now = Date.now();
    if (this.#dir.live && this.#seen === this.#dir.changes && now - this.#checkedAt < RECHECK_MS) return this.#got;
    this.#seen = this.#dir.changes;
    this.#checkedAt = now;
    let stamp: string;
    try {
      const st = statSync(this.path, { throwIfNoEntry: false });
      if (!st) {
        if (this.#stamp !== '') this.#stamp = 'gone'; // read before: it was removed
        return (this.#got = { ok: false, problem: this.#stamp === '' ? `cannot read ${this.path} (ENOENT)` : `${this.path} (${this.name}) no longer exists` });
      }
      stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    } catch (err) {
      return (this.#got = { ok: false, problem: `cannot read ${this.path} (${(err as NodeJS.ErrnoException).code ?? 'error'})` });
    }
    if (stamp !== this.#stamp) {
      this.#got = this.#read();
      this.#stamp = stamp;
    }
    return this.#got;
  }

  #read(): Got<Secret> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      return { ok: false, problem: `cannot read ${this.path} (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
    }
    // Files written by editors or `echo` end with a newline that is not part of the key.
    const value = text.replace(/\r?\n$/, '');
    if (value === '') return { ok: false, problem: `${this.path} is empty` };
    return { ok: true, value: new Secret(this.name, value) };
  }
}

export const SOURCE_FORMS = 'expected "env:NAME", "file:PATH" or "exec:COMMAND"';

/** Opens "env:NAME" or "file:PATH" (relative to baseDir), reading it once. exec: is opened by secret-exec.ts. */
export function openSecretSource(source: string, env: NodeJS.ProcessEnv, baseDir: string): Got<SecretSource> {
  if (source.startsWith('env:') && source.length > 4) {
    const name = source.slice(4);
    const value = env[name];
    if (value === undefined || value === '') return { ok: false, problem: `environment variable ${name} is not set` };
    return { ok: true, value: new FixedSource(source, value) };
  }
  if (source.startsWith('file:') && source.length > 5) {
    const file = new FileSource(source, resolve(baseDir, source.slice(5)));
    const now = file.current();
    return now.ok ? { ok: true, value: file } : now;
  }
  return { ok: false, problem: SOURCE_FORMS };
}

/** The value now when it is at hand without waiting (env:, file:); undefined for exec: until it ran. */
export function valueNow(source: SecretSource): Got<Secret> | undefined {
  const now = source.current();
  return now instanceof Promise ? undefined : now;
}

/** A value about to be written into a header: a line break or NUL would split the request. */
export function headerSafe(secret: Secret): Got<Secret> {
  return /[\r\n\0]/.test(secret.reveal())
    ? { ok: false, problem: `the value of ${secret.name} contains a line break or NUL byte` }
    : { ok: true, value: secret };
}
