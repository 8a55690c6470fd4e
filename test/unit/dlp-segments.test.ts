// A JSON body scanned element by element with the scan cache (proxy/dlp/segments.ts, cache.ts,
// native/dlp/src/chunker.cc): the same findings, actions and bytes with the cache on or off
// (the property bench/fuzz.ts runs 100,000 times), what a whole-body scan finds, chunk
// boundaries that do not depend on how the body arrives, and a cache that holds no secret.
import { it } from '@fast-check/vitest';
import fc from 'fast-check';
import crypto from 'node:crypto';
import { describe, expect, it as plainIt } from 'vitest';
import { SEGMENT_PROPS } from '../../bench/fuzz-props-dlp.ts';
import { BUILTIN_RULES } from '../../policies/dlp/index.ts';
import { ScanCache } from '../../proxy/dlp/cache.ts';
import { compileEngine } from '../../proxy/dlp/engine.ts';
import { nativeAddon } from '../../proxy/dlp/native.ts';
import { SegmentedScanner } from '../../proxy/dlp/segments.ts';
import { BodyCapture } from '../../proxy/capture.ts';
import type { Rules } from '../../proxy/dlp/stream.ts';

const engine = compileEngine(BUILTIN_RULES);
const rules = (action: 'log' | 'redact' | 'block'): Rules => ({ engine, actions: BUILTIN_RULES.map(() => action), report: false });
const key = 'sk-ant-api03-' + 'k9Xq2Lm7Pw4Rt8Vz1Nb6Hc3Jd5Fg0Ys'.repeat(3).slice(0, 93) + 'AA';

function scan(s: SegmentedScanner, body: Buffer, chunk = 16_384): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i += chunk) {
    const o = s.push(body.subarray(i, i + chunk));
    if (o) out.push(o);
  }
  const t = s.end();
  if (t) out.push(t);
  return Buffer.concat(out);
}

function conversationBody(messages: string[]): Buffer {
  return Buffer.from(JSON.stringify({ model: 'm', max_tokens: 10, messages: messages.map((content, i) => ({ role: i % 2 ? 'assistant' : 'user', content })) }));
}

const chunks = (mode: boolean, body: Buffer, cuts: number[]) => {
  const c = new (nativeAddon()!.Chunker)(mode);
  const ends: number[] = [];
  const digests: string[] = [];
  let at = 0;
  for (const to of [...cuts.filter((x) => x < body.length).sort((a, b) => a - b), body.length]) {
    const r = c.feed(body.subarray(at, Math.max(at, to)));
    if (r) r[0].forEach((e, i) => (ends.push(e), digests.push(r[1].subarray(32 * i, 32 * i + 32).toString('hex'))));
    at = Math.max(at, to);
  }
  const f = c.finish();
  if (f) f[0].forEach((e, i) => (ends.push(e), digests.push(f[1].subarray(32 * i, 32 * i + 32).toString('hex'))));
  return { ends, digests, mode: c.mode() };
};

describe('scanning a JSON body element by element', () => {
  // Each run scans up to seven turns four ways; the fuzz bench runs them 100,000 times.
  for (const p of SEGMENT_PROPS) it.prop(p.arbs, { numRuns: 40 })(p.name, p.predicate);

  it.prop([fc.json({ maxDepth: 4 }), fc.array(fc.nat(2000), { maxLength: 6 })], { numRuns: 500 })(
    'chunk boundaries and digests do not depend on how the body arrives, and each digest is the SHA-256 of its chunk',
    (json, cuts) => {
      const body = Buffer.from(json);
      const whole = chunks(false, body, []);
      expect(chunks(false, body, cuts)).toEqual(whole);
      let prev = 0;
      whole.ends.forEach((e, i) => {
        expect(crypto.createHash('sha256').update(body.subarray(prev, e)).digest('hex')).toBe(whole.digests[i]);
        prev = e;
      });
      if (body.length) expect(whole.ends.at(-1)).toBe(body.length);
    },
  );

  plainIt('cuts after each message, tool and system block, carrying the separator before each; not JSON is one chunk', () => {
    const body = Buffer.from('{"system":[{"t":"a"},{"t":"b"}],"messages":[{"m":1},{"m":"x}]"}]}');
    const { ends } = chunks(false, body, []);
    let prev = 0;
    const pieces = ends.map((e) => body.subarray(prev, (prev = e)).toString());
    expect(pieces).toEqual(['{"system":[{"t":"a"}', ',{"t":"b"}', '],"messages":[{"m":1}', ',{"m":"x}]"}', ']}']);
    expect(chunks(false, Buffer.from('hello {"a":1}'), []).ends).toEqual([13]);
    expect(chunks(false, Buffer.from('hello {"a":1}'), []).mode).toBe(2);
    // Not well-formed JSON: no more cuts after the break.
    expect(chunks(false, Buffer.from('{"m":[{"a":1},{"b":2}\\,{"c":3},{"d":4}]}'), []).ends).toEqual([13, 21, 40]);
  });

  plainIt('a conversation resent turn after turn is scanned once: later turns are answered from the cache', () => {
    const cache = new ScanCache();
    const msgs = Array.from({ length: 12 }, (_, i) => `message ${i}: ${'lorem ipsum dolor sit amet '.repeat(20)}`);
    for (let t = 1; t <= msgs.length; t++) scan(new SegmentedScanner(rules('log'), 'request body', false, false, { cache, minPiece: 0 }), conversationBody(msgs.slice(0, t)));
    // Each turn scans only its new message (and the short head and tail are always scanned).
    expect(cache.stats.hits).toBe((msgs.length * (msgs.length - 1)) / 2);
    expect(cache.size).toBe(msgs.length);
  });

  plainIt('a remembered secret is blocked, redacted or logged as the request asks, and the cache holds only its masked preview', () => {
    const cache = new ScanCache();
    const body = conversationBody([`please use ${key} for the api`, 'x'.repeat(400)]);
    const first = new SegmentedScanner(rules('log'), 'request body', false, false, { cache, minPiece: 0, minRemembered: 0 });
    expect(scan(first, body).equals(body)).toBe(true);
    expect(first.findings.map((f) => f.ruleId)).toEqual(['anthropic-api-key']);
    const redact = new SegmentedScanner(rules('redact'), 'request body', false, false, { cache, minPiece: 0, minRemembered: 0 });
    const redacted = scan(redact, body).toString();
    expect(redacted).toContain('[REDACTED:anthropic-api-key]');
    expect(redacted).not.toContain(key.slice(14, 40));
    const block = new SegmentedScanner(rules('block'), 'request body', false, false, { cache, minPiece: 0, minRemembered: 0 });
    scan(block, body);
    expect(block.blocked?.ruleId).toBe('anthropic-api-key');
    expect(cache.stats.hits).toBeGreaterThanOrEqual(4);
    // Nothing in the cache is the key or a long piece of it.
    const held = JSON.stringify([...(cache as unknown as { lru: Map<string, unknown> }).lru.entries()]);
    expect(held).not.toContain(key.slice(14, 24));
    expect(held).toContain(first.findings[0].preview);
  });

  it.prop(
    [
      fc.array(fc.oneof({ weight: 4, arbitrary: fc.lorem({ maxCount: 300 }) }, { weight: 1, arbitrary: fc.constantFrom(`use ${key} now`, 'mail ops@example.com', '4111 1111 1111 1111') }), { minLength: 1, maxLength: 12 }),
      fc.constantFrom<'log' | 'redact' | 'block'>('log', 'redact', 'block'),
      fc.integer({ min: 1, max: 40_000 }),
      fc.integer({ min: 100, max: 60_000 }),
      fc.boolean(),
    ],
    { numRuns: 150 },
  )('the pieces handed to the store are bytes of the stored copy with their SHA-256; a piece with a finding is not one', (messages, action, chunk, cap, cache) => {
    const body = conversationBody(messages);
    const s = new SegmentedScanner(rules(action), 'request body', true, false, { cache: cache ? new ScanCache() : null });
    const capture = new BodyCapture(cap);
    const stored: Buffer[] = [];
    const release = (out: Buffer | null) => {
      if (out === null || out.length === 0) return;
      const copy = s.lastStored ?? out;
      stored.push(copy);
      capture.add(copy, s.takePieces());
    };
    for (let i = 0; i < body.length && !s.blocked; i += chunk) release(s.push(body.subarray(i, i + chunk)));
    if (!s.blocked) release(s.end());
    const data = capture.take();
    expect(data.equals(Buffer.concat(stored).subarray(0, cap))).toBe(true);
    const pieces = capture.takePieces();
    let at = 0;
    for (let i = 0; pieces && i < pieces.digests.length; i++) {
      const [from, to] = [pieces.ranges[2 * i], pieces.ranges[2 * i + 1]];
      expect(from).toBeGreaterThanOrEqual(at);
      expect(to).toBeLessThanOrEqual(data.length);
      expect(pieces.digests[i].equals(crypto.createHash('sha256').update(data.subarray(from, to)).digest())).toBe(true);
      // No finding inside: a stored copy redacts every finding, so a piece with one would differ from what was scanned.
      expect(data.subarray(from, to).toString()).not.toContain('[REDACTED:');
      at = to;
    }
    // Clean messages that fit under the cap come with their digests.
    if (!s.blocked && cap >= body.length && s.findings.length === 0 && body.length > 4096) expect(pieces?.digests.length).toBeGreaterThan(1);
  });

  plainIt('releases exactly the body, whatever the chunk size: pieces spanning chunks, several pieces in one chunk, a redaction among them', () => {
    const clean = conversationBody(Array.from({ length: 9 }, (_, i) => `m${i} ${'ab '.repeat(10 + 37 * i)}`));
    const secret = conversationBody(['one', `use ${key} now`, 'two '.repeat(50), 'three']);
    for (const [body, action] of [[clean, 'log'], [secret, 'log'], [secret, 'redact']] as const) {
      const expected = action === 'redact' ? Buffer.from(body.toString().replace(key, '[REDACTED:anthropic-api-key]')) : body;
      for (const size of [1, 2, 3, 7, 16, 63, 64, 100, 255, 256, 1000, 1500, body.length]) {
        for (const cache of [null, new ScanCache()]) {
          const out = scan(new SegmentedScanner(rules(action), 'request body', false, false, { cache, minPiece: 64, minRemembered: 0 }), body, size);
          expect(out.toString(), `chunks of ${size}, ${action}`).toBe(expected.toString());
        }
      }
    }
  });

  plainIt('keeps at most its configured number of pieces', () => {
    const cache = new ScanCache(50);
    for (let i = 0; i < 200; i++) scan(new SegmentedScanner(rules('log'), 'request body', false, false, { cache, minPiece: 0, minRemembered: 0 }), conversationBody([`m${i} ${'z'.repeat(300)}`]));
    expect(cache.size).toBeLessThanOrEqual(50);
  });
});
