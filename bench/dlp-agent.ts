// DLP scanner speed on agent traffic (bench/agent-corpus.ts), in MB of request body per second of
// this process's CPU time, with the full built-in pack, through the scanners the proxy uses, in
// 16 KiB chunks as TLS delivers them. Reported:
// - cold: every body of a 60-turn session scanned with no cache (native scanner, element by
//   element; and as one stream), target >= 300 MB/s;
// - keyword-free: text in which no rule keyword occurs, target >= 1 GB/s;
// - session stream: many sessions turn by turn with the scan cache, as the proxy runs;
// - the portable node-re2 engine on the same cold bodies, for reference.
// - with COMPARE_PACK=path/to/policies/dlp/index.ts (another rule pack, e.g. the one before issue 14,
//   from `git archive`): the cold figures for both packs, measured in the same run.
// Each figure is the median of 5 runs after a warm-up run. Run: npx tsx bench/dlp-agent.ts [sessions=20]
import path from 'node:path';
import { BUILTIN_RULES } from '../policies/dlp/index.ts';
import { ScanCache } from '../proxy/dlp/cache.ts';
import { compileEngine } from '../proxy/dlp/engine.ts';
import { type BodyScanner, SegmentedScanner } from '../proxy/dlp/segments.ts';
import { type Rules, StreamScanner } from '../proxy/dlp/stream.ts';
import { conversation, sessionBodies } from './agent-corpus.ts';

const SESSIONS = Number(process.argv[2] ?? 20);
const CHUNK = 16 * 1024;
const native = compileEngine(BUILTIN_RULES);
if (!native.native) throw new Error('the native scanner is not built (npm run setup && npm run build:native)');
const portable = compileEngine(BUILTIN_RULES, { native: false });
const rules = (engine = native): Rules => ({ engine, actions: BUILTIN_RULES.map((r) => r.action), report: false });

function scanAll(bodies: Buffer[], make: () => BodyScanner): number {
  let findings = 0;
  for (const b of bodies) {
    const s = make();
    for (let i = 0; i < b.length; i += CHUNK) s.push(b.subarray(i, i + CHUNK));
    s.end();
    findings += s.findings.length;
  }
  return findings;
}

function cpuMs(fn: () => void): number {
  const t = process.cpuUsage();
  fn();
  const u = process.cpuUsage(t);
  return (u.user + u.system) / 1000;
}

function measure(bytes: number, fn: () => void, reps = 5): number {
  fn(); // warm-up: JIT, page faults, cache of compiled engines
  const ms = Array.from({ length: reps }, () => cpuMs(fn)).sort((a, b) => a - b);
  return bytes / 1e6 / (ms[reps >> 1] / 1000);
}

const conv = conversation();
const one = sessionBodies(conv, 1);
const oneBytes = one.reduce((a, b) => a + b.length, 0);
const findings = scanAll(one, () => new SegmentedScanner(rules(), 'request body', false, false, { cache: null }));
console.log(`corpus: one 60-turn session, ${(oneBytes / 1e6).toFixed(1)} MB in ${one.length} bodies (${findings} findings at the pack's default actions); ${BUILTIN_RULES.length} rules`);

const cold = measure(oneBytes, () => scanAll(one, () => new SegmentedScanner(rules(), 'request body', false, false, { cache: null })));
const coldStream = measure(oneBytes, () => scanAll(one, () => new StreamScanner(rules(), 'request body')));
console.log(`cold, element by element (no cache):   ${cold.toFixed(0)} MB/s   (target >= 300)`);
console.log(`cold, one stream:                       ${coldStream.toFixed(0)} MB/s`);
if (process.env.COMPARE_PACK) {
  // More rules must not mean a slower scan (issue 14): the other pack on the same bodies, interleaved.
  const other: typeof BUILTIN_RULES = (await import(path.resolve(process.env.COMPARE_PACK))).BUILTIN_RULES;
  const engine = compileEngine(other);
  const otherRules = (): Rules => ({ engine, actions: other.map((r) => r.action), report: false });
  const pair = (r: () => Rules) => measure(oneBytes, () => scanAll(one, () => new SegmentedScanner(r(), 'request body', false, false, { cache: null })));
  const a = [pair(otherRules), pair(rules), pair(otherRules), pair(rules)];
  console.log(`cold, element by element, ${other.length} rules (${process.env.COMPARE_PACK}): ${((a[0] + a[2]) / 2).toFixed(0)} MB/s; this pack's ${BUILTIN_RULES.length} rules alongside: ${((a[1] + a[3]) / 2).toFixed(0)} MB/s`);
}

// Text in which no keyword occurs: words from a vocabulary without any rule keyword in them.
const vocabulary = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo consequat'.split(' ');
const keywords = BUILTIN_RULES.flatMap((r) => r.keywords);
const words = vocabulary.filter((w) => !keywords.some((k) => w.includes(k)));
// Written into one buffer: joining millions of strings grew the heap to ~190 MB, and the major GC
// that collected them (~60 ms, seen with --trace-gc) landed in the first measured run.
const plainText = Buffer.alloc(17 * 1024 * 1024);
let plainLength = 0;
for (let n = 0, i = 0; n < 16 * 1024 * 1024; i++) {
  const w = words[(i * 7919) % words.length];
  plainLength += plainText.write(i % 12 === 11 ? `${w}.\n` : `${w} `, plainLength, 'latin1');
  n += w.length + 1;
}
const plain = [plainText.subarray(0, plainLength)];
// Eight passes per measured run (~100 ms): one pass is ~11 ms, short enough for one burst of
// another process's load or one major GC to move the median.
const PASSES = 8;
const kwFree = measure(PASSES * plain[0].length, () => {
  for (let i = 0; i < PASSES; i++) scanAll(plain, () => new StreamScanner(rules(), 'request body'));
});
console.log(`keyword-free text, one stream:          ${kwFree.toFixed(0)} MB/s   (target >= 1000)`);

// Sessions turn by turn through one cache, as the proxy sees them.
const sessions = Array.from({ length: SESSIONS }, (_, s) => sessionBodies(conv, s + 100));
const turnsInOrder: Buffer[] = [];
for (let t = 0; t < conv.turns; t++) for (const s of sessions) turnsInOrder.push(s[t]);
const streamBytes = turnsInOrder.reduce((a, b) => a + b.length, 0);
let cache = new ScanCache();
const heapBefore = process.memoryUsage().heapUsed;
const withCache = measure(streamBytes, () => {
  cache = new ScanCache();
  scanAll(turnsInOrder, () => new SegmentedScanner(rules(), 'request body', false, false, { cache }));
});
global.gc?.();
const heapAfter = process.memoryUsage().heapUsed;
const hitRate = cache.stats.hits / Math.max(1, cache.stats.hits + cache.stats.misses);
console.log(
  `session stream with the cache:          ${withCache.toFixed(0)} MB/s   (${SESSIONS} sessions x ${conv.turns} turns, ${(streamBytes / 1e6).toFixed(0)} MB; hit rate ${(hitRate * 100).toFixed(1)}%; ${cache.size} pieces remembered, heap +${((heapAfter - heapBefore) / 1e6).toFixed(1)} MB)`,
);

const re2 = measure(oneBytes, () => scanAll(one, () => new StreamScanner(rules(portable), 'request body')), 3);
console.log(`node-re2 engine, cold, one stream:      ${re2.toFixed(0)} MB/s   (the portable fallback)`);
