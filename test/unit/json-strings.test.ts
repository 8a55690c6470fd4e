// The native addon's JSON readers against a byte-at-a-time reference: the chunker's cuts
// (native/dlp/src/chunker.cc) and topLevel's and arrayElements' spans (toplevel.cc) on bodies dense
// with escapes (code sent as JSON has a `\n` or `\"` every few dozen bytes), with strings across the
// scanners' vector blocks and across the pieces a body arrives in, and on bodies cut short.
import { it } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import { nativeAddon } from '../../proxy/dlp/native.ts';

const addon = nativeAddon()!;

/** Text where escapes are frequent: backslashes, quotes, newlines and brackets among letters. */
const dense = fc.string({ unit: fc.constantFrom('a', 'b', '\\', '\\', '"', '\n', ' ', '}', ']', '{', '[', 'é', '😀'), maxLength: 300 });
const message = fc.record({ role: fc.constantFrom('user', 'assistant'), content: fc.oneof(dense, fc.array(fc.record({ type: fc.constant('text'), text: dense }), { maxLength: 3 })) });
const body = fc.record({ model: dense, messages: fc.array(message, { maxLength: 8 }), tools: fc.array(fc.dictionary(dense, dense, { maxKeys: 2 }), { maxLength: 3 }) }).map((v) => Buffer.from(JSON.stringify(v)));

const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** Chunk ends of a body as the chunker's JSON rule gives them (no content-defined cuts), byte by byte. */
function referenceEnds(b: Buffer, min: number): number[] {
  const ends: number[] = [];
  const stack: number[] = [];
  let i = 0;
  while (i < b.length && SPACE.has(b[i])) i++;
  const json = i < b.length && (b[i] === 0x7b || b[i] === 0x5b);
  let start = 0;
  let inString = false;
  let escaped = false;
  let done = false;
  for (; json && i < b.length; i++) {
    const c = b[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (c === 0x5c) escaped = true;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (done) {
      if (!SPACE.has(c)) break; // not JSON any more: no cut after this
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (stack.length >= 256) break;
      stack.push(c);
    } else if (c === 0x7d || c === 0x5d) {
      if (stack.at(-1) !== (c === 0x7d ? 0x7b : 0x5b)) break;
      stack.pop();
      if (stack.length === 0) done = true;
      else if (stack.at(-1) === 0x5b && stack.length <= 2 && i + 1 - start >= min) {
        ends.push(i + 1);
        start = i + 1;
      }
    } else if (c === 0x5c) break;
  }
  if (b.length > start) ends.push(b.length);
  return ends;
}

function nativeEnds(b: Buffer, cuts: number[], min: number): number[] {
  const c = new addon.Chunker(false, false, min);
  const ends: number[] = [];
  let at = 0;
  for (const to of [...cuts.map((x) => x % (b.length + 1)).sort((x, y) => x - y), b.length]) {
    const r = c.feed(b.subarray(at, Math.max(at, to)));
    if (r) ends.push(...r[0]);
    at = Math.max(at, to);
  }
  const f = c.finish();
  if (f) ends.push(...f[0]);
  return ends;
}

describe('JSON read by the native addon', () => {
  it.prop([body, fc.array(fc.nat(20_000), { maxLength: 8 }), fc.constantFrom(0, 64, 1024), fc.option(fc.nat(20_000))], { numRuns: 400 })(
    'the chunker cuts where a byte-by-byte reading does, however the body arrives, whole or cut short',
    (whole, cuts, min, shortAt) => {
      const b = shortAt === null ? whole : whole.subarray(0, shortAt % (whole.length + 1));
      expect(nativeEnds(b, cuts, min)).toEqual(referenceEnds(b, min));
    },
  );

  it.prop([body], { numRuns: 300 })('topLevel finds each top-level value whole: its bytes parse to the same value', (b) => {
    const keys = ['model', 'messages', 'tools', 'absent'];
    const spans = addon.topLevel(b, keys);
    const parsed = JSON.parse(b.toString('utf8')) as Record<string, unknown>;
    keys.forEach((k, n) => {
      const [s, e] = [spans[2 * n], spans[2 * n + 1]];
      if (!(k in parsed)) return expect([s, e]).toEqual([-1, -1]);
      expect(JSON.parse(b.subarray(s, e).toString('utf8'))).toEqual(parsed[k]);
    });
    // And arrayElements (the writer's sessions) finds each message whole.
    const [s, e] = spans.slice(2, 4);
    const els = addon.arrayElements(b, s, e);
    const messages = parsed.messages as unknown[];
    expect(els.length).toBe(2 * messages.length);
    messages.forEach((m, n) => expect(JSON.parse(b.subarray(els[2 * n], els[2 * n + 1]).toString('utf8'))).toEqual(m));
  });

  it.prop([fc.nat(200), fc.nat(3)], { numRuns: 200 })('a run of backslashes across a block edge escapes by its parity', (lead, extra) => {
    // The string's closing quote comes right after a run of backslashes that may straddle byte 64.
    const run = 60 + extra;
    const text = 'x'.repeat(lead) + '\\'.repeat(run) + '"' + (run % 2 ? 'y"' : '');
    const b = Buffer.from(`["${text}",[1]]`);
    expect(nativeEnds(b, [], 0)).toEqual(referenceEnds(b, 0));
  });
});
