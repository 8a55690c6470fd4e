// The table of services the built-in DLP rules cover, as docs/dlp.md lists it (one row per rule,
// by service). test/unit/dlp-rules.test.ts checks the page holds exactly this table; after adding
// or changing a rule, print it with `npx tsx test/helpers/dlp-doc-table.ts` and paste it there.
import { pathToFileURL } from 'node:url';
import { BUILTIN_RULES } from '../../policies/dlp/index.ts';
import type { DlpRule } from '../../policies/dlp/types.ts';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/(https:\/\/[^\s,)]+)/g, '<$1>');

export function servicesTable(rules: readonly DlpRule[] = BUILTIN_RULES): string {
  const rows = [...rules].sort((a, b) => a.service.localeCompare(b.service, 'en', { sensitivity: 'base' }) || a.id.localeCompare(b.id));
  return [
    '| Service | Rule | Default action | Format documented in |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${cell(r.service)} | \`${r.id}\` | ${r.action} | ${cell(r.source)} |`),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(servicesTable());
