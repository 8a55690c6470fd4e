// airlock dlp scan|rules: the configured DLP rules on a file or stdin, and the rules themselves.
import fs from 'node:fs';
import path from 'node:path';
import { parseCli, unknownSubcommand } from './args.ts';
import { UsageError } from '../flow-filter.ts';
import { loadPolicyFile } from '../../policies/load.ts';
import { parseDlp } from '../../policies/parse-dlp.ts';
import { Problems } from '../../policies/problems.ts';
import type { DlpConfig } from '../../policies/types.ts';
import { err, out } from './output.ts';
import { rulesFor } from '../dlp/policy.ts';
import { findingLocation } from '../dlp/record.ts';
import { StreamScanner } from '../dlp/stream.ts';

export const DLP_HELP = `usage: airlock dlp scan FILE|- [options] | airlock dlp rules [--config FILE] [--json]

  scan FILE|-      scan a file (or stdin) with the DLP rules; prints one line per finding
                   (rule, action, where, masked preview); exits 1 if anything was found
    --config FILE  use the rules, actions and exceptions of this policy (default: built-in rules)
    --host NAME    apply the policy's exceptions for this host (and --path PREFIX)
    --form         the input is application/x-www-form-urlencoded ('+' is a space)
  rules            list every rule: id, severity, action, service, description, and the
                   documentation of its format (source); --json prints them as JSON`;

export async function dlpCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'scan' && sub !== 'rules') throw sub ? unknownSubcommand('subcommand', sub, ['scan', 'rules']) : new UsageError('which subcommand? scan or rules');
  const { values, positionals } = parseCli(rest, {
    config: { type: 'string' },
    host: { type: 'string' },
    path: { type: 'string' },
    form: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  const dlp = loadDlp(values.config);
  if (Array.isArray(dlp)) return err(`airlock: the policy has ${dlp.length} problem(s):\n  ${dlp.join('\n  ')}`, 1);
  if (sub === 'rules') return out(values.json ? rulesJson(dlp) : rulesTable(dlp), 0);
  if (sub !== 'scan' || positionals.length !== 1) return err(DLP_HELP, 2);
  const rules = rulesFor({ ...dlp, enabled: true }, values.host?.toLowerCase() ?? '', values.path ?? '/');
  if (!rules) return out('every rule is off for this host', 0);
  // In report mode nothing stops the scan: every finding is listed, not only up to the first block.
  const scanner = new StreamScanner({ ...rules, report: true }, positionals[0] === '-' ? 'stdin' : path.basename(positionals[0]), values.form === true);
  const input = positionals[0] === '-' ? process.stdin : fs.createReadStream(positionals[0]);
  for await (const chunk of input as AsyncIterable<Buffer>) scanner.push(chunk);
  scanner.end();
  const lines = scanner.findings.map((f) => `${f.ruleId}\t${f.action.replace(/^would-/, '')}\t${findingLocation(f)}\t${f.preview}`);
  if (scanner.dropped) lines.push(`... and ${scanner.dropped} more`);
  return lines.length ? out(lines.join('\n'), 1) : out('no findings', 0);
}

/** One line per rule (id, severity, action, service, description), its source indented below. */
function rulesTable(dlp: DlpConfig): string {
  const rows = dlp.rules.map((r) => [r.id, r.severity, dlp.actions[r.id] ?? 'off', r.service, r.description]);
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = dlp.rules.map((r, k) => `${rows[k].map((c, i) => (i < 4 ? c.padEnd(w[i]) : c)).join('  ')}\n    source: ${r.source}`);
  const services = new Set(dlp.rules.map((r) => r.service)).size;
  const extra = dlp.exceptions.length ? `\n${dlp.exceptions.length} exception(s) in the policy; mode: ${dlp.mode}` : `\nmode: ${dlp.mode}`;
  return `${lines.join('\n')}\n${dlp.rules.length} rules, ${services} services${extra}`;
}

function rulesJson(dlp: DlpConfig): string {
  const rules = dlp.rules.map((r) => ({ id: r.id, service: r.service, severity: r.severity, action: dlp.actions[r.id] ?? 'off', description: r.description, source: r.source, keywords: r.keywords }));
  return JSON.stringify({ mode: dlp.mode, rules }, null, 2);
}

function loadDlp(config: string | undefined): DlpConfig | string[] {
  if (config) {
    const r = loadPolicyFile(path.resolve(config));
    return r.ok ? r.config.dlp : r.errors;
  }
  const p = new Problems();
  const dlp = parseDlp(undefined, p);
  return p.list.length ? p.list : dlp;
}
