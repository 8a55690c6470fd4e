// DLP scanner and redactor properties (see bench/fuzz-props.ts), with the built-in rule pack and
// its own true examples planted in text, as sent, JSON-escaped, URL-encoded and in base64, cut
// into chunks anywhere. CI: test/unit/dlp-pack-props.test.ts; bench/fuzz.ts: 100,000+ runs each.
import fc from 'fast-check';
import { BUILTIN_RULES } from '../policies/dlp/index.ts';
import { compileEngine } from '../proxy/dlp/engine.ts';
import { nativeAddon } from '../proxy/dlp/native.ts';
import { ScanCache } from '../proxy/dlp/cache.ts';
import { type BodyScanner, SegmentedScanner } from '../proxy/dlp/segments.ts';
import { HOLD, type Rules, StreamScanner } from '../proxy/dlp/stream.ts';
import { fail, type Prop } from './fuzz-props.ts';

const engine = compileEngine(BUILTIN_RULES);
/** The node-re2 engine: the native one's reference (the two must find the same). */
const portable = compileEngine(BUILTIN_RULES, { native: false });
const all = (action: 'log' | 'redact' | 'block', e = engine): Rules => ({ engine: e, actions: BUILTIN_RULES.map(() => action), report: false });
const EXAMPLES = BUILTIN_RULES.flatMap((r) => r.examples.match);

function run(rules: Rules, chunks: Buffer[], scanner: BodyScanner = new StreamScanner(rules, 'request body')) {
  const s = scanner;
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
// Mostly short filler; sometimes a run as long as the hold-back window, so secrets land on its edges.
const filler = fc.oneof({ weight: 8, arbitrary: fc.lorem({ maxCount: 20 }) }, { weight: 1, arbitrary: fc.constantFrom(' '.repeat(HOLD), 'x'.repeat(HOLD - 7)) });
const body = fc.tuple(fc.array(fc.oneof(secret, filler), { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 40_000 }), { maxLength: 5 }));

function build([pieces, cuts]: [string[], number[]]): { whole: Buffer; chunks: Buffer[] } {
  const whole = Buffer.from(pieces.join(' '));
  const at = [...new Set(cuts.filter((c) => c < whole.length))].sort((x, y) => x - y);
  return { whole, chunks: [0, ...at].map((s, i, a) => whole.subarray(s, i + 1 < a.length ? a[i + 1] : whole.length)) };
}

// Text in the shape of agent traffic: JSON whose strings carry code, escapes, URLs and numbers.
const codeish = fc.stringMatching(/^[\x20-\x7e\n\t]{0,400}$/).map((x) => JSON.stringify({ role: 'user', content: `const token = process.env.X; // ${x}` }));
const mixed = fc.tuple(fc.array(fc.oneof(secret, filler, codeish, fc.constantFrom('%2F%3D', '\\u0041KIA', '4111 1111 1111 1111', 'GB82 WEST 1234 5698 7654 32', '078-05-1120')), { minLength: 1, maxLength: 8 }), fc.constant([] as number[]));

// Bytes at the edges of the classes the native scanner sorts bytes into 64 at a time (base64
// alphabet, letters, digits, spaces, dashes; ASCII or not, valid UTF-8 or not), in runs of any
// length, so that what follows them lands at every offset of a 64-byte block. As latin1 units:
// '\xc3\xa9' is a valid UTF-8 character, '\xff' and a lone '\xe9' are not.
const edgeBytes = fc.string({
  unit: fc.constantFrom(' ', 'a', 'z', 'A', 'Z', '0', '9', '@', '[', '`', '{', '/', '+', '_', '-', '=', '.', ':', '\n', '\\', '%', '\xc3\xa9', '\xe9', '\xff'),
  maxLength: 200,
});
const aligned = fc
  .array(fc.tuple(edgeBytes, secret), { minLength: 1, maxLength: 4 })
  .map((ps) => ps.flatMap(([edge, x]) => [Buffer.from(edge, 'latin1'), Buffer.from(x)]));

const same = (a: unknown, b: unknown, what: string) => JSON.stringify(a) === JSON.stringify(b) || fail(`${what}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);

// An agent's conversation: messages whose text carries filler, code and the pack's examples, some
// split across two messages; turn t sends messages 0..t, as agents resend their history.
const piece = fc.oneof({ weight: 3, arbitrary: fc.lorem({ maxCount: 12 }) }, { weight: 2, arbitrary: secret }, { weight: 1, arbitrary: codeish });
const message = fc.tuple(fc.constantFrom('user', 'assistant'), fc.array(piece, { minLength: 1, maxLength: 4 }), fc.boolean());
const conversation = fc.tuple(
  fc.array(message, { minLength: 1, maxLength: 7 }),
  fc.integer({ min: 0, max: 6 }), // a secret cut in two across this message and the next
  fc.constantFrom<'log' | 'redact' | 'block'>('log', 'redact', 'block'),
  fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 4 }),
);
type Conversation = [[string, string[], boolean][], number, 'log' | 'redact' | 'block', number[]];

/** The request bodies of each turn: the Messages API shape, one more message each turn. */
function turns([msgs, split]: Conversation): Buffer[] {
  const texts = msgs.map(([, pieces]) => pieces.join(' '));
  if (split < texts.length - 1) {
    const ex = EXAMPLES[split % EXAMPLES.length];
    const half = ex.length >> 1;
    texts[split] += ` ${ex.slice(0, half)}`;
    texts[split + 1] = `${ex.slice(half)} ${texts[split + 1]}`;
  }
  const rendered = msgs.map(([role, , blocks], i) =>
    JSON.stringify({ role, content: blocks ? [{ type: 'text', text: texts[i] }, { type: 'tool_result', tool_use_id: `toolu_${i}`, content: texts[i].slice(0, 40) }] : texts[i] }),
  );
  const head = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 1024, system: 'You are a coding agent.', tools: [{ name: 'Read', input_schema: { type: 'object' } }] }).slice(0, -1);
  return rendered.map((_, t) => Buffer.from(`${head},"messages":[${rendered.slice(0, t + 1).join(',')}]}`));
}

const cut = (whole: Buffer, cuts: number[]) => build([[whole.toString('latin1')], cuts]).chunks.map((c) => Buffer.from(c.toString('latin1'), 'latin1'));

/** Only where the native scanner is built (CI builds it; test/unit/dlp-engines.test.ts checks). */
export const ENGINE_PROPS: Prop[] = nativeAddon()
  ? [
      {
        name: 'DLP: the native scanner and the node-re2 engine find the same, and output the same',
        arbs: [mixed],
        predicate: (input: [string[], number[]]) => {
          const { whole } = build(input);
          const a = run(all('redact', portable), [whole]);
          const b = run(all('redact', engine), [whole]);
          same(b.findings, a.findings, 'findings');
          if (!a.out.equals(b.out)) fail('output differs');
        },
      },
      {
        name: 'DLP: the native scanner and the node-re2 engine find the same at every offset of a 64-byte block, next to every byte-class edge',
        arbs: [aligned],
        predicate: (parts: Buffer[]) => {
          const whole = Buffer.concat(parts);
          const a = run(all('redact', portable), [whole]);
          const b = run(all('redact', engine), [whole]);
          same(b.findings, a.findings, 'findings');
          if (!a.out.equals(b.out)) fail('output differs');
        },
      },
      {
        name: "DLP: the native base64 decoder is Node's Buffer.from(x, 'base64')",
        arbs: [fc.stringMatching(/^[A-Za-z0-9+/_=\r\n.-]{0,80}$/)],
        predicate: (text: string) => {
          const mine = nativeAddon()!.decodeBase64(Buffer.from(text, 'latin1'));
          if (!mine.equals(Buffer.from(text, 'base64'))) fail(`${JSON.stringify(text)}: ${mine.toString('hex')} != ${Buffer.from(text, 'base64').toString('hex')}`);
        },
      },
    ]
  : [];

/** A JSON body element by element, with and without the scan cache (segments.ts); native only. */
export const SEGMENT_PROPS: Prop[] = nativeAddon()
  ? [
      {
        name: 'DLP: with the scan cache on or off, a conversation turn by turn gets the same findings, actions and bytes released',
        arbs: [conversation],
        predicate: (c: Conversation) => {
          const rules = all(c[2]);
          const cache = new ScanCache();
          const proxyCache = new ScanCache();
          for (const body of turns(c)) {
            const off = run(rules, cut(body, c[3]), new SegmentedScanner(rules, 'request body', true, false, { cache: null, minPiece: 0 }));
            const on = run(rules, cut(body, c[3]), new SegmentedScanner(rules, 'request body', true, false, { cache, minPiece: 0, minRemembered: 0 }));
            same(on.findings, off.findings, 'findings');
            same(on.blocked, off.blocked, 'blocked');
            if (!on.out.equals(off.out)) fail('released bytes differ');
            // And as the proxy runs it: small elements travel together, short pieces are not remembered.
            const plain = run(rules, cut(body, c[3]), new SegmentedScanner(rules, 'request body', true, false, { cache: null }));
            const remembered = run(rules, cut(body, c[3]), new SegmentedScanner(rules, 'request body', true, false, { cache: proxyCache }));
            same(remembered.findings, plain.findings, 'findings (proxy settings)');
            if (!remembered.out.equals(plain.out)) fail('released bytes differ (proxy settings)');
          }
          if (cache.stats.hits === 0 && turns(c).length > 1 && !c[2].startsWith('block')) fail('the cache never answered');
        },
      },
      {
        name: 'DLP: a JSON body scanned element by element finds what a scan of the whole body finds',
        arbs: [conversation],
        predicate: (c: Conversation) => {
          const rules = all('log');
          const bodies = turns(c);
          const body = bodies[bodies.length - 1];
          const whole = run(rules, [body]).findings;
          const pieces = run(rules, cut(body, c[3]), new SegmentedScanner(rules, 'request body', false, false, { cache: null })).findings;
          const overlaps = (a: { ruleId: string; offset: number; length: number }, b: typeof a) =>
            a.ruleId === b.ruleId && a.offset < b.offset + Math.max(1, b.length) && b.offset < a.offset + Math.max(1, a.length);
          for (const f of whole) if (!pieces.some((g) => overlaps(f, g))) fail(`whole-body finding missing element by element: ${JSON.stringify(f)}`);
          for (const g of pieces) if (!whole.some((f) => overlaps(f, g))) fail(`element-by-element finding the whole body does not have: ${JSON.stringify(g)}`);
        },
      },
    ]
  : [];

export const DLP_PROPS: Prop[] = [
  {
    name: 'DLP: any bytes, any chunking: no throw, findings inside the body, masked previews',
    arbs: [fc.uint8Array({ maxLength: 3000 }), fc.array(fc.integer({ min: 1, max: 3000 }), { maxLength: 4 })],
    predicate: (bytes: Uint8Array, cuts: number[]) => {
      const b = Buffer.from(bytes);
      const { findings } = run(all('redact'), build([[b.toString('latin1')], cuts]).chunks);
      for (const f of findings) if (f.offset < 0 || f.offset + f.length > b.length * 2 || f.preview.length > 40) fail(JSON.stringify(f));
    },
  },
  {
    name: 'DLP: findings and output do not depend on chunking',
    arbs: [body],
    predicate: (input: [string[], number[]]) => {
      const { whole, chunks } = build(input);
      const a = run(all('log'), [whole]);
      const b = run(all('log'), chunks);
      same(b.findings, a.findings, 'findings');
      if (!a.out.equals(b.out)) fail('output differs');
    },
  },
  {
    name: 'DLP: redacted output holds no match',
    arbs: [body],
    predicate: (input: [string[], number[]]) => {
      const r = run(all('redact'), build(input).chunks);
      same(run(all('log'), [r.out]).findings.map((f) => f.ruleId), [], 'left after redaction');
    },
  },
  {
    name: 'DLP: a block releases nothing from the secret on',
    arbs: [body],
    predicate: (input: [string[], number[]]) => {
      const { whole, chunks } = build(input);
      const first = run(all('log'), [whole]).findings[0];
      const r = run(all('block'), chunks);
      same(r.blocked?.offset, first?.offset, 'blocked at');
      if (first && r.out.length > first.offset) fail(`released ${r.out.length} bytes, the secret starts at ${first.offset}`);
    },
  },
];
