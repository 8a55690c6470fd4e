// The streaming scanner on its own: views, hold-back, redaction, and chunking invariance.
import { fc, test as fcTest } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { DlpRule } from '../../policies/dlp/types.ts';
import { compileEngine } from '../../proxy/dlp/engine.ts';
import { HOLD, type RuleAction, type Rules, scanValue, StreamScanner } from '../../proxy/dlp/stream.ts';

const T = { service: 'test', source: 'this test' };
const RULES: DlpRule[] = [
  { ...T, id: 'test-aws-key', description: 'AWS key id', pattern: '\\b(AKIA[0-9A-Z]{16})\\b', keywords: ['akia'], severity: 'critical', action: 'block', examples: { match: [], nomatch: [] } },
  { ...T, id: 'test-token', description: 'token', pattern: '\\b(tok_[a-z0-9]{20})\\b', keywords: ['tok_'], severity: 'high', action: 'redact', examples: { match: [], nomatch: [] } },
  {
    ...T,
    id: 'test-pem',
    description: 'PEM key',
    pattern: '-----BEGIN PRIVATE KEY-----[A-Za-z0-9+/=\\s]{16,1000}-----END PRIVATE KEY-----',
    keywords: ['-----begin private key'],
    severity: 'critical',
    action: 'block',
    examples: { match: [], nomatch: [] },
  },
  { ...T, id: 'test-digits', description: 'nine digits', pattern: '\\b\\d{3}-\\d{2}-\\d{4}\\b', keywords: [], severity: 'low', action: 'log', examples: { match: [], nomatch: [] } },
];
const engine = compileEngine(RULES);
const rules = (override: Partial<Record<string, RuleAction>> = {}, report = false): Rules => ({
  engine,
  actions: RULES.map((r) => override[r.id] ?? r.action),
  report,
});

const AWS = 'AKIAZ7QWERTYUIOPASDF';
const TOKEN = 'tok_abcdefghij0123456789';
const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----';

function run(r: Rules, chunks: Buffer[], location = 'request body') {
  const s = new StreamScanner(r, location);
  const out: Buffer[] = [];
  for (const c of chunks) {
    const o = s.push(c);
    if (o) out.push(o);
  }
  const tail = s.end();
  if (tail) out.push(tail);
  return { out: Buffer.concat(out), findings: s.findings, blocked: s.blocked };
}

const one = (text: string, r = rules()) => run(r, [Buffer.from(text)]);

describe('views', () => {
  it('finds a secret as sent, JSON-escaped, URL-encoded and in base64', () => {
    expect(one(`key ${AWS} end`).blocked?.ruleId).toBe('test-aws-key');
    expect(one(JSON.stringify({ k: PEM })).blocked?.ruleId).toBe('test-pem');
    expect(one(JSON.stringify({ k: PEM })).blocked?.via).toBe('json');
    expect(one(`a=1&pem=${encodeURIComponent(PEM)}`).blocked?.via).toBe('url');
    const b64 = Buffer.from(`the key is ${AWS} ok`).toString('base64');
    expect(one(JSON.stringify({ file: b64 })).blocked?.via).toBe('base64');
    const nested = Buffer.from(JSON.stringify({ inner: PEM })).toString('base64url');
    expect(one(JSON.stringify({ doc: nested })).blocked?.via).toBe('base64>json');
    expect(one(JSON.stringify({ k: '\\u0041KIAZ7QWERTYUIOPASDF' }).replace('\\\\u', '\\u')).blocked?.ruleId).toBe('test-aws-key');
  });

  it('reports where: offset of the secret and a masked preview', () => {
    const { findings } = one(`xx ${TOKEN} yy`);
    expect(findings).toEqual([expect.objectContaining({ ruleId: 'test-token', action: 'redact', offset: 3, length: TOKEN.length, preview: 'tok_…89(24)' })]);
  });

  it('leaves look-alikes alone', () => {
    expect(one(`${AWS}X and tok_short`).findings).toEqual([]);
  });
});

describe('actions', () => {
  it('redacts with valid output and keeps the rest byte-identical', () => {
    const body = JSON.stringify({ a: 'x'.repeat(50_000), t: TOKEN, b: 'y'.repeat(50_000) });
    const r = run(rules(), [Buffer.from(body)]);
    expect(JSON.parse(r.out.toString()).t).toBe('[REDACTED:test-token]');
  });

  it('report mode changes nothing and records what would have happened', () => {
    const r = run(rules({}, true), [Buffer.from(`${AWS} ${TOKEN}`)]);
    expect(r.out.toString()).toBe(`${AWS} ${TOKEN}`);
    expect(r.findings.map((f) => f.action)).toEqual(['would-block', 'would-redact']);
  });

  it('off turns a rule off', () => {
    expect(one(AWS, rules({ 'test-aws-key': 'off' })).findings).toEqual([]);
  });

  it('scanValue scans a header value', () => {
    const r = scanValue(rules(), Buffer.from(`Bearer ${TOKEN}`), 'header:authorization');
    expect(r.out?.toString()).toBe('Bearer [REDACTED:test-token]');
    expect(r.findings[0].location).toBe('header:authorization');
  });
});

describe('streaming', () => {
  it('releases nothing of a secret split across a 64 KiB chunk boundary', () => {
    const body = Buffer.from('a'.repeat(65_536 - 10) + ` ${AWS} ` + 'b'.repeat(100_000));
    const s = new StreamScanner(rules(), 'request body');
    const released: Buffer[] = [];
    for (let i = 0; i < body.length; i += 65_536) {
      const o = s.push(body.subarray(i, i + 65_536));
      if (o) released.push(o);
    }
    expect(s.end()).toBeNull();
    expect(Buffer.concat(released).includes('AKIA')).toBe(false);
    expect(s.blocked?.offset).toBe(65_536 - 9);
  });

  it('holds back at most a bounded window', () => {
    const s = new StreamScanner(rules(), 'request body');
    let released = 0;
    for (let i = 0; i < 100; i++) released += s.push(Buffer.alloc(65_536, 0x61))!.length;
    expect(100 * 65_536 - released).toBeLessThanOrEqual(2 * HOLD + 65_536);
  });
});

// Bodies made of filler and planted secrets, encoded various ways, cut anywhere. Generated as
// pieces (short names for long filler) so that a counterexample prints readably.
const FILLER = { X: 'x'.repeat(HOLD), S: ' '.repeat(3000) } as const;
const piece = fc.oneof(
  fc.constantFrom(AWS, TOKEN, PEM, '123-45-6789', JSON.stringify(PEM), encodeURIComponent(PEM), Buffer.from(`k=${AWS}`).toString('base64')),
  fc.string({ unit: fc.constantFrom('a', ' ', '\n', '\\', '"', '%', '=', '-', 'Z', '1', '_'), maxLength: 40 }),
  fc.constantFrom<keyof typeof FILLER>('X', 'S'),
);
const body = fc.tuple(fc.array(piece, { maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 120_000 }), { maxLength: 8 }));

function build([pieces, cuts]: [string[], number[]]): { whole: Buffer; chunks: Buffer[] } {
  const whole = Buffer.from(pieces.map((p) => (p in FILLER ? FILLER[p as keyof typeof FILLER] : p)).join(' '));
  const at = [...new Set(cuts.filter((c) => c < whole.length))].sort((x, y) => x - y);
  return { whole, chunks: [0, ...at].map((s, i, a) => whole.subarray(s, i + 1 < a.length ? a[i + 1] : whole.length)) };
}

const logAll = () => rules({ 'test-aws-key': 'log', 'test-pem': 'log' });

describe('properties', () => {
  fcTest.prop([body], { numRuns: 300 })('findings and output do not depend on chunking', (input) => {
    const { whole, chunks } = build(input);
    const one = run(logAll(), [whole]);
    const parts = run(logAll(), chunks);
    expect(parts.findings).toEqual(one.findings);
    expect(parts.out.equals(one.out)).toBe(true);
  });

  fcTest.prop([body], { numRuns: 300 })('redacted output never contains a match', (input) => {
    const all = rules({ 'test-aws-key': 'redact', 'test-pem': 'redact', 'test-digits': 'redact' });
    const r = run(all, build(input).chunks);
    expect(run(all, [r.out]).findings).toEqual([]);
  });

  fcTest.prop([body], { numRuns: 300 })('a block releases no byte of the secret', (input) => {
    const r = run(rules(), build(input).chunks);
    if (r.blocked) expect(r.out.length).toBeLessThanOrEqual(r.blocked.offset);
    else expect(r.findings.every((f) => f.action !== 'block')).toBe(true);
  });
});
