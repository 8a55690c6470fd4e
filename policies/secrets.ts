// Secrets named in a policy and where each comes from: env:NAME (read at load), file:PATH (read at
// load and again whenever the file changes: a Kubernetes secret mount rotates under a running
// airlock), exec:COMMAND (its output, cached for a while; policies/secret-exec.ts). A value sits
// in a #private field, so JSON.stringify, console.log and string templates only show the name.
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
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
 * A file read again when it changes: one stat per use compares device, inode, size and times
 * (an editor's rename, a Kubernetes `..data` symlink swap and an in-place write all show), so a
 * new value applies from the next request on. A file that disappears fails closed.
 */
export class FileSource extends SecretSource {
  #stamp = '';
  #got: Got<Secret> = { ok: false, problem: 'not read yet' };

  constructor(
    name: string,
    readonly path: string,
  ) {
    super(name);
  }

  current(): Got<Secret> {
    let stamp: string;
    try {
      const st = statSync(this.path, { throwIfNoEntry: false });
      if (!st) return { ok: false, problem: this.#stamp === '' ? `cannot read ${this.path} (ENOENT)` : `${this.path} (${this.name}) no longer exists` };
      stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    } catch (err) {
      return { ok: false, problem: `cannot read ${this.path} (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
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
