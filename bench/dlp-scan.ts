// DLP scanning speed with the full built-in pack, on realistic agent traffic: LLM request JSON
// whose messages carry this repository's own source code (escaped newlines and quotes, words like
// "secret", "token" and "password", hex and base64 strings), pushed in 64 KiB chunks through the
// same StreamScanner the proxy uses. Baselines in the same run: one RE2 pass of a single literal
// over the same bytes (the floor of any RE2 scan), and Buffer.indexOf.
// Run: npx tsx bench/dlp-scan.ts [MiB, default 64]
import fs from 'node:fs';
import path from 'node:path';
import RE2 from 're2';
import { parseDlp } from '../policies/parse-dlp.ts';
import { Problems } from '../policies/problems.ts';
import { rulesFor } from '../proxy/dlp/policy.ts';
import { StreamScanner } from '../proxy/dlp/stream.ts';

const MIB = Number(process.argv[2] ?? 64);
const CHUNK = 64 * 1024;

function sources(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && e.name !== 'dist') sources(p, out);
    else if (e.name.endsWith('.ts')) out.push(fs.readFileSync(p, 'utf8'));
  }
  return out;
}

/** Chat requests made of real source files, until `bytes` of JSON. */
function corpus(bytes: number): Buffer {
  const files = [...sources('proxy'), ...sources('web-ui'), ...sources('ca')].filter((f) => !f.includes('BEGIN'));
  const docs: Buffer[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const doc = Buffer.from(
      JSON.stringify({
        model: 'claude-sonnet-4-5',
        max_tokens: 4096,
        system: 'You are a coding agent. Use the tools to read and edit files.',
        messages: [
          { role: 'user', content: `Please review this file and fix the bug (request ${i}).` },
          { role: 'assistant', content: [{ type: 'tool_use', id: `toolu_${i.toString(36).padStart(20, '0')}`, name: 'read_file', input: { path: `src/file${i}.ts` } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: `toolu_${i}`, content: files[i % files.length] }] },
        ],
      }),
    );
    docs.push(doc);
    n += doc.length;
  }
  return Buffer.concat(docs).subarray(0, bytes);
}

function mbps(bytes: number, ms: number): number {
  return bytes / 1024 / 1024 / (ms / 1000);
}

function time(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

const p = new Problems();
const dlp = parseDlp(undefined, p);
const rules = rulesFor(dlp, 'api.anthropic.com', '/v1/messages')!;
const data = corpus(MIB * 1024 * 1024);
console.log(`corpus: ${MIB} MiB of chat JSON carrying source code; ${dlp.rules.length} rules`);

const runs: Record<string, number[]> = { scanner: [], re2Literal: [], indexOf: [] };
let findings = 0;
for (let rep = 0; rep < 3; rep++) {
  runs.scanner.push(
    time(() => {
      const s = new StreamScanner({ ...rules, report: true }, 'request body');
      for (let i = 0; i < data.length; i += CHUNK) s.push(data.subarray(i, i + CHUNK));
      s.end();
      findings = s.findings.length + s.dropped;
    }),
  );
  const lit = new RE2('zq9xv-not-present', 'g');
  runs.re2Literal.push(
    time(() => {
      for (let i = 0; i < data.length; i += CHUNK) {
        lit.lastIndex = 0;
        lit.test(data.subarray(i, i + CHUNK));
      }
    }),
  );
  runs.indexOf.push(time(() => void data.indexOf('zq9xv-not-present')));
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[1];
const scan = mbps(data.length, median(runs.scanner));
const lit = mbps(data.length, median(runs.re2Literal));
console.log(`findings in corpus: ${findings}`);
console.log(`full pack, streamed:  ${scan.toFixed(0)} MB/s`);
console.log(`one RE2 literal:      ${lit.toFixed(0)} MB/s   (full pack = ${(scan / lit).toFixed(2)}x of it)`);
console.log(`Buffer.indexOf:       ${mbps(data.length, median(runs.indexOf)).toFixed(0)} MB/s`);
