// Two settings of airlock compared on bench/agent-cpu.ts, run in alternation: A, B, A, B, ... each
// with a fresh airlock. On a shared 2-core machine one run's CPU per request moves by 10-20 % with
// what else runs; a difference of a few per cent shows only as the median of paired ratios (B's run
// over the A run just before it), which drifts of the machine mostly cancel.
// Run: npx tsx bench/agent-ab.ts PAIRS 'A settings' 'B settings' [-- agent-cpu args]
//   Settings are environment assignments for agent-cpu.ts and the airlock it starts, e.g.
//   'AIRLOCK_NODE_FLAGS="--max-semi-space-size=2 --v8-pool-size=1 --initial-old-space-size=32"'
//   or 'EXTRA_YAML=/tmp/dlp-off.yaml'; '' for as shipped. WARMUP defaults to 20 sessions here.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [pairsArg, a, b, ...rest] = process.argv.slice(2);
const pairs = Number(pairsArg);
if (!Number.isInteger(pairs) || pairs < 1 || a === undefined || b === undefined) {
  console.error("usage: npx tsx bench/agent-ab.ts PAIRS 'A settings' 'B settings' [-- sessions turns]");
  process.exit(2);
}
const args = rest[0] === '--' ? rest.slice(1) : rest;
const repo = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/** NAME=value pairs; a value may be double-quoted to hold spaces. */
function settings(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/(\w+)=("([^"]*)"|\S*)/g)) out[m[1]] = m[3] ?? m[2];
  return out;
}

interface Run {
  ms: number;
  rss: number;
  threads: string;
}

function once(setting: string): Run {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/agent-cpu.ts', ...(args.length ? args : ['30', '60'])], {
    cwd: repo,
    env: { ...process.env, WARMUP: process.env.WARMUP ?? '20', ...settings(setting) },
    encoding: 'utf8',
  });
  const out = r.stdout + r.stderr;
  const ms = /= ([\d.]+) ms per request/.exec(out)?.[1];
  const rss = /peak RSS: (\d+) MB/.exec(out)?.[1];
  if (r.status !== 0 || !ms || !rss) throw new Error(`agent-cpu.ts failed with ${setting || 'no settings'}:\n${out.slice(-2000)}`);
  return { ms: Number(ms), rss: Number(rss), threads: /by thread: (.*)/.exec(out)?.[1] ?? '' };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const runs: { a: Run; b: Run }[] = [];
for (let i = 0; i < pairs; i++) {
  const ra = once(a);
  const rb = once(b);
  runs.push({ a: ra, b: rb });
  console.log(`pair ${i + 1}: A ${ra.ms} ms ${ra.rss} MB (${ra.threads}) | B ${rb.ms} ms ${rb.rss} MB (${rb.threads})`);
}
const ratios = runs.map((r) => r.b.ms / r.a.ms);
const show = (xs: number[], digits = 2) => xs.map((x) => x.toFixed(digits)).join(', ');
console.log(`A (${a || 'as shipped'}): ${median(runs.map((r) => r.a.ms)).toFixed(2)} ms per request (${show(runs.map((r) => r.a.ms))}), peak RSS ${median(runs.map((r) => r.a.rss))} MB (${show(runs.map((r) => r.a.rss), 0)})`);
console.log(`B (${b || 'as shipped'}): ${median(runs.map((r) => r.b.ms)).toFixed(2)} ms per request (${show(runs.map((r) => r.b.ms))}), peak RSS ${median(runs.map((r) => r.b.rss))} MB (${show(runs.map((r) => r.b.rss), 0)})`);
console.log(`B/A CPU per request: median ${median(ratios).toFixed(3)} (pairs ${show(ratios, 3)})`);
