// loadPolicyFile: reads and YAML-parses a policy file, then validates it with parsePolicy.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parsePolicy } from './parse.ts';
import { yamlText } from './yaml-text.ts';
import type { ParseResult } from './types.ts';

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * Data directory when the policy sets no data_dir. Default: the policy file's directory, so the
   * same policy finds the same CA, store and tokens wherever airlock is started from.
   */
  defaultDataDir?: string;
}

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
  const yaml = yamlText(text, path);
  if (!yaml.ok) return yaml;
  return parsePolicy(yaml.data, {
    baseDir: dirname(resolve(path)),
    env: opts.env ?? process.env,
    defaultDataDir: opts.defaultDataDir ?? dirname(resolve(path)),
    sourcePath: resolve(path),
  });
}
