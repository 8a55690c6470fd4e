// Secret-handling properties (see bench/fuzz-props.ts): the injected key never comes back in any
// encoding bench/echo-encodings.ts lists, however the response is cut; text without it passes
// unchanged; a placeholder is refused however a body is cut and before any of it is released;
// the stored copy of a value holds no DLP finding whatever the actions (a block included).
// CI: test/unit/secrets-props.test.ts; bench/fuzz.ts: 100,000+ runs each.
import fc from 'fast-check';
import { BUILTIN_RULES } from '../policies/dlp/index.ts';
import { EchoScrubber, EchoSet } from '../proxy/dlp/echo.ts';
import { compileEngine } from '../proxy/dlp/engine.ts';
import { type Rules, scanValue } from '../proxy/dlp/stream.ts';
import { Tripwire } from '../proxy/dlp/tripwire.ts';
import { checkPlaceholders } from '../proxy/stages/credentials.ts';
import { ECHO_ENCODINGS, holdsSecret } from './echo-encodings.ts';
import { fail, type Prop } from './fuzz-props.ts';

/** Keys as providers issue them: letters, digits and a few punctuation marks; sometimes "Bearer KEY". */
const KEY_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/=';
const key = fc.tuple(fc.string({ unit: fc.constantFrom(...KEY_CHARS.split('')), minLength: 12, maxLength: 60 }), fc.boolean()).map(([k, bearer]) => (bearer ? `Bearer ${k}` : k));
/** What surrounds an echo: prose, JSON-ish text, or any bytes. */
const filler = fc.oneof(fc.lorem({ maxCount: 8 }), fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('', '"', '\\', '%', '&#', '\n', '='));
const cuts = fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 6 });

/** `text` through an EchoScrubber in pieces cut at `at`. */
function scrubbed(set: EchoSet, text: Buffer, at: number[]): Buffer {
  const s = new EchoScrubber(set);
  const points = [...new Set(at.filter((c) => c < text.length))].sort((x, y) => x - y);
  const out = [0, ...points].map((from, i, a) => s.push(text.subarray(from, i + 1 < a.length ? a[i + 1] : text.length)));
  return Buffer.concat([...out, s.end()]);
}

const core = (k: string) => k.replace(/^Bearer /, '');

/** One character spelled one of the ways an upstream might: as is, %xx, %XX, %25xx, \\u00xx, \\xXX, &#d;, &#xh;, or after a line break. */
function spell(c: string, how: number): string {
  const h = c.charCodeAt(0).toString(16).padStart(2, '0');
  return [c, `%${h}`, `%${h.toUpperCase()}`, `%25${h}`, `\\u00${h}`, `\\x${h.toUpperCase()}`, `&#${c.charCodeAt(0)};`, `&#x${h};`, `\r\n${c}`, `\\n  ${c}`][how];
}
const MARKER_BYTES = new Set(Buffer.from('[redacted:injected]*'));

const engine = compileEngine(BUILTIN_RULES);
const EXAMPLES = BUILTIN_RULES.flatMap((r) => r.examples.match);
const ACTIONS = ['off', 'log', 'redact', 'block'] as const;

export const SECRETS_PROPS: Prop[] = [
  {
    name: 'echo: the key in any listed encoding, inside any text, cut anywhere, never reaches the agent; the length is kept',
    arbs: [key, fc.integer({ min: 0, max: ECHO_ENCODINGS.length - 1 }), filler, filler, cuts],
    predicate: (k: string, e: number, before: string, after: string, at: number[]) => {
      const text = Buffer.from(`${before}${ECHO_ENCODINGS[e][1](k)}${after}`, 'latin1');
      const out = scrubbed(new EchoSet([k]), text, at);
      if (out.length !== text.length) fail(`length ${text.length} -> ${out.length}`);
      if (holdsSecret(out, core(k))) fail(`still holds the key: ${JSON.stringify(out.toString('latin1'))}`);
    },
  },
  {
    name: 'echo: any mix of escapes and line breaks over any listed encoding never reaches the agent',
    arbs: [key, fc.integer({ min: 0, max: 14 }), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 300 }), filler, cuts],
    predicate: (k: string, e: number, how: number[], before: string, at: number[]) => {
      // Encodings 0-14 are plain text (as sent, hex, base64, base32): each character spelled its own way.
      const plain = ECHO_ENCODINGS[e][1](k);
      // Line breaks as wrapped text has them: at most one per 8 characters (echo-match.ts reads 64 bytes of them per copy).
      const spelled = [...plain].map((c, i) => spell(c, how[i % how.length] >= 8 && i % 8 !== 7 ? 0 : how[i % how.length]));
      const text = Buffer.from(`${before}${spelled.join('')}.`, 'latin1');
      const out = scrubbed(new EchoSet([k]), text, at);
      if (holdsSecret(out, core(k))) fail(`still holds the key: ${JSON.stringify(out.toString('latin1'))}`);
    },
  },
  {
    name: 'echo: how a response is cut does not change which bytes are scrubbed (but for up to 3 characters released before a line break at a cut)',
    arbs: [key, fc.integer({ min: 0, max: ECHO_ENCODINGS.length - 1 }), filler, filler, cuts],
    predicate: (k: string, e: number, before: string, after: string, at: number[]) => {
      const set = new EchoSet([k]);
      const text = Buffer.from(`${before}${ECHO_ENCODINGS[e][1](k)}${after}`, 'latin1');
      // Where overlapping copies were cut apart the marker's text may be laid out differently, so
      // a byte of the marker's own alphabet may be left "unchanged" by chance: those are not compared.
      const changed = (out: Buffer) => [...out].map((b, i) => (MARKER_BYTES.has(text[i]) ? '?' : b === text[i] ? '.' : 'x')).join('');
      const [cut, whole] = [changed(scrubbed(set, text, at)), changed(scrubbed(set, text, []))];
      // Up to 3 characters of a copy before a line break that ends a piece are released (the
      // rest is scrubbed in the next piece): only there may the cut run scrub less, never more.
      const points = at.filter((c) => c < text.length);
      for (let i = 0; i < text.length; i++) {
        if (cut[i] === whole[i] || cut[i] === '?') continue;
        if (cut[i] === 'x' || !points.some((c) => c > i && c <= i + 3 * 8 + 16)) fail(`scrubbed ${cut}, whole ${whole}`);
      }
    },
  },
  {
    name: 'echo: text that does not hold the key passes unchanged',
    arbs: [key, fc.array(filler, { maxLength: 8 }), cuts],
    predicate: (k: string, parts: string[], at: number[]) => {
      const text = Buffer.from(parts.join(''), 'latin1');
      if (holdsSecret(text, core(k))) return;
      const out = scrubbed(new EchoSet([k]), text, at);
      if (!out.equals(text)) fail(`changed: ${JSON.stringify(text.toString('latin1'))} -> ${JSON.stringify(out.toString('latin1'))}`);
    },
  },
  {
    name: 'tripwire: a body is refused iff it holds a placeholder, however cut, and nothing from its first byte on is released',
    arbs: [fc.array(fc.string({ unit: fc.constantFrom(...'airlock-placeholder-x'.split('')), maxLength: 30 }), { maxLength: 6 }), fc.boolean(), cuts],
    predicate: (parts: string[], plant: boolean, at: number[]) => {
      const values = ['airlock-placeholder-one', 'airlock-pl-two'].map((v) => Buffer.from(v));
      const text = Buffer.from(parts.join(plant ? 'airlock-placeholder-one' : ''));
      const wire = new Tripwire(values);
      const points = [...new Set(at.filter((c) => c < text.length))].sort((x, y) => x - y);
      let released = 0;
      let hit = -1;
      for (const [i, from] of [0, ...points].entries()) {
        const step = wire.push(text.subarray(from, i < points.length ? points[i] : text.length));
        if ('hit' in step) {
          hit = step.hit;
          break;
        }
        released += step.out.length;
      }
      const first = Math.min(...values.map((v) => text.indexOf(v)).filter((x) => x >= 0));
      if (Number.isFinite(first) !== hit >= 0) fail(`holds a value: ${Number.isFinite(first)}, refused: ${hit >= 0}`);
      if (hit >= 0 && released > first) fail(`released ${released} bytes, the value starts at ${first}`);
      if (hit < 0 && released + wire.end().length !== text.length) fail('bytes lost');
    },
  },
  {
    name: 'placeholders: one in a URL or header is found however it is percent-encoded (once or twice, in part)',
    arbs: [fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 23, maxLength: 23 }), fc.boolean(), filler],
    predicate: (how: number[], inHeader: boolean, around: string) => {
      const p = 'airlock-placeholder-one';
      const spelled = [...p].map((c, i) => (how[i] === 0 ? c : how[i] === 1 ? `%${c.charCodeAt(0).toString(16)}` : `%25${c.charCodeAt(0).toString(16).toUpperCase()}`)).join('');
      // A separator: a '%' ending the text before could otherwise take the placeholder's first byte (as a server would).
      const text = `${encodeURIComponent(around)}&k=${spelled}`;
      const r = checkPlaceholders([{ value: p, bytes: Buffer.from(p), host: 'owner.test' }], inHeader ? '/' : `/x?k=${text}`, inHeader ? [['authorization', text]] : []);
      if (r.ok) fail(`not found in ${text}`);
    },
  },
  {
    name: 'DLP at rest: the stored copy of a value holds no finding, whatever the actions (a block included)',
    arbs: [fc.array(fc.oneof(fc.constantFrom(...EXAMPLES), fc.lorem({ maxCount: 6 })), { minLength: 1, maxLength: 5 }), fc.array(fc.constantFrom(...ACTIONS), { minLength: BUILTIN_RULES.length, maxLength: BUILTIN_RULES.length })],
    predicate: (parts: string[], actions: (typeof ACTIONS)[number][]) => {
      const rules: Rules = { engine, actions, report: false };
      const r = scanValue(rules, Buffer.from(parts.join(' ')), 'header:x', false, true);
      const again = scanValue({ engine, actions: actions.map((a) => (a === 'off' ? 'off' : 'log')), report: false }, r.stored, 'header:x');
      if (again.findings.length) fail(`stored copy still holds ${again.findings.map((f) => f.ruleId).join(', ')}: ${JSON.stringify(r.stored.toString())}`);
    },
  },
];
