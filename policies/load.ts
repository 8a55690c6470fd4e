// loadPolicyFile: reads and YAML-parses a policy file, then validates it with parsePolicy.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { parsePolicy } from './parse.ts';
import type { ParseResult } from './types.ts';

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * Data directory when the policy sets no data_dir. Default: the policy file's directory, so the
   * same policy finds the same CA, store and tokens wherever airlock is started from.
   */
  defaultDataDir?: string;
}

const STAR_HINT = ' (in YAML a value starting with "*" is an alias: quote it, match: "*.example.com")';

/** Errors name the file as given, so YAML problems read like compiler output: "policy.yaml:3:7: ...". */
export function loadPolicyFile(path: string, opts: LoadOptions = {}): ParseResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { ok: false, errors: [`${path}: cannot read policy file (${(err as NodeJS.ErrnoException).code ?? 'error'})`] };
  }
  return loadPolicyText(text, path, opts);
}

/** A policy given as text (the UI's replay form): `path` names it in errors and anchors relative paths. */
export function loadPolicyText(text: string, path: string, opts: LoadOptions = {}): ParseResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return `${path}:${line}:${col}: ${e.message}${/alias/i.test(e.message) ? STAR_HINT : ''}`;
      }),
    };
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (err) {
    // An unquoted "*.example.com" is a YAML alias to an anchor that does not exist.
    const message = (err as Error).message;
    const at = text.split('\n').findIndex((l) => /:\s*\*/.test(l));
    return { ok: false, errors: [`${path}${at >= 0 ? `:${at + 1}` : ''}: ${message}${/alias/i.test(message) ? STAR_HINT : ''}`] };
  }
  return parsePolicy(data, {
    baseDir: dirname(resolve(path)),
    env: opts.env ?? process.env,
    defaultDataDir: opts.defaultDataDir ?? dirname(resolve(path)),
    sourcePath: resolve(path),
  });
}
