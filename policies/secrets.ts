// Secrets named in a policy (env:NAME, file:PATH). The value sits in a #private
// field so JSON.stringify, console.log and string templates only ever show the name.
import { readFileSync } from 'node:fs';
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

export type SecretResult = { ok: true; secret: Secret } | { ok: false; problem: string };

/** Resolves "env:NAME" or "file:PATH" (relative to baseDir). Problems never include secret content. */
export function resolveSecretSource(source: string, env: NodeJS.ProcessEnv, baseDir: string): SecretResult {
  if (source.startsWith('env:') && source.length > 4) {
    const name = source.slice(4);
    const value = env[name];
    if (value === undefined || value === '') return { ok: false, problem: `environment variable ${name} is not set` };
    return { ok: true, secret: new Secret(source, value) };
  }
  if (source.startsWith('file:') && source.length > 5) {
    const path = resolve(baseDir, source.slice(5));
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      return { ok: false, problem: `cannot read ${path} (${code})` };
    }
    // Files written by editors or `echo` end with a newline that is not part of the key.
    const value = text.replace(/\r?\n$/, '');
    if (value === '') return { ok: false, problem: `${path} is empty` };
    return { ok: true, secret: new Secret(source, value) };
  }
  return { ok: false, problem: 'expected "env:NAME" or "file:PATH"' };
}
