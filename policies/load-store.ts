// The store section of a policy file on its own, for readers that run without the proxy
// (`airlock flows --config`, `airlock ui --config`): data_dir, store, and listen.ui, validated as
// `airlock start` validates them, without resolving the hosts' secrets (an auditor's process
// does not get the API keys; it needs only what the store needs, such as the PostgreSQL URL).
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseListenSection } from './parse-listen.ts';
import { parseStore } from './parse-store.ts';
import { yamlText } from './yaml-text.ts';
import { mapping, optString, Problems } from './problems.ts';
import type { Config, ListenAddr } from './types.ts';

export type StoreSection = { ok: true; dataDir: string; store: Config['store']; ui?: ListenAddr; sourcePath: string } | { ok: false; errors: string[] };

export function loadStoreSection(path: string, opts: { env?: NodeJS.ProcessEnv; defaultDataDir?: string } = {}): StoreSection {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { ok: false, errors: [`${path}: cannot read policy file (${(err as NodeJS.ErrnoException).code ?? 'error'})`] };
  }
  const yaml = yamlText(text, path);
  if (!yaml.ok) return yaml;
  const p = new Problems();
  const raw = yaml.data;
  const root = raw === null || raw === undefined ? new Map<string, unknown>() : mapping(raw, 'policy', p);
  if (!root) return { ok: false, errors: p.list };
  const baseDir = dirname(resolve(path));
  const dataDirText = optString(root, 'data_dir', '', p);
  // data_dir defaults to the policy's own directory, as for `airlock start` (loadPolicyFile).
  const dataDir = dataDirText ? resolve(baseDir, dataDirText) : resolve(opts.defaultDataDir ?? baseDir);
  const section = root.get('store');
  const fields = section === null || section === undefined ? new Map<string, unknown>() : (mapping(section, 'store', p) ?? new Map<string, unknown>());
  const store = parseStore(fields, dataDir, p, { env: opts.env ?? process.env, baseDir });
  const listen = parseListenSection(root.get('listen'), baseDir, p);
  if (p.list.length) return { ok: false, errors: p.list };
  return { ok: true, dataDir, store, ...(listen.ui ? { ui: listen.ui } : {}), sourcePath: resolve(path) };
}
