// The stream properties again, with the built-in rule pack and its own true examples planted in
// filler, as sent, JSON-escaped, URL-encoded and in base64: findings do not depend on chunking,
// redacted output holds no match, and a block releases nothing from the secret on.
import { fc, test as fcTest } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { BUILTIN_RULES } from '../../policies/dlp/index.ts';
import { compileEngine } from '../../proxy/dlp/engine.ts';
import { HOLD, type Rules, StreamScanner } from '../../proxy/dlp/stream.ts';

const engine = compileEngine(BUILTIN_RULES);
const withAll = (action: 'log' | 'redact' | 'block'): Rules => ({ engine, actions: BUILTIN_RULES.map(() => action), report: false });
const EXAMPLES = BUILTIN_RULES.flatMap((r) => r.examples.match);

function run(rules: Rules, chunks: Buffer[]) {
  const s = new StreamScanner(rules, 'request body');
  const out: Buffer[] = [];
  for (const c of chunks) {
    const o = s.push(c);
    if (o) out.push(o);
  }
  const t = s.end();
  if (t) out.push(t);
  return { out: Buffer.concat(out), findings: s.findings, blocked: s.blocked };
}

const encodings = [(x: string) => x, (x: string) => JSON.stringify({ v: x }), (x: string) => encodeURIComponent(x), (x: string) => Buffer.from(x).toString('base64')];
const secret = fc.tuple(fc.constantFrom(...EXAMPLES), fc.integer({ min: 0, max: encodings.length - 1 })).map(([x, e]) => encodings[e](x));
const filler = fc.oneof(fc.lorem({ maxCount: 30 }), fc.constantFrom(' '.repeat(HOLD), '{"role":"user","content":"', '"}\n'));
const body = fc.tuple(fc.array(fc.oneof(secret, filler), { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 60_000 }), { maxLength: 6 }));

function build([pieces, cuts]: [string[], number[]]): { whole: Buffer; chunks: Buffer[] } {
  const whole = Buffer.from(pieces.join(' '));
  const at = [...new Set(cuts.filter((c) => c < whole.length))].sort((x, y) => x - y);
  return { whole, chunks: [0, ...at].map((s, i, a) => whole.subarray(s, i + 1 < a.length ? a[i + 1] : whole.length)) };
}

describe('the built-in pack, streamed', () => {
  fcTest.prop([body], { numRuns: 150 })('findings do not depend on chunking', (input) => {
    const { whole, chunks } = build(input);
    expect(run(withAll('log'), chunks).findings).toEqual(run(withAll('log'), [whole]).findings);
  });

  fcTest.prop([body], { numRuns: 150 })('redacted output holds no match', (input) => {
    const r = run(withAll('redact'), build(input).chunks);
    expect(run(withAll('log'), [r.out]).findings.map((f) => f.ruleId)).toEqual([]);
  });

  fcTest.prop([body], { numRuns: 150 })('a block releases nothing from the secret on', (input) => {
    const { whole, chunks } = build(input);
    const first = run(withAll('log'), [whole]).findings[0];
    const r = run(withAll('block'), chunks);
    expect(r.blocked?.offset).toBe(first?.offset);
    if (first) expect(r.out.length).toBeLessThanOrEqual(first.offset);
  });
});
