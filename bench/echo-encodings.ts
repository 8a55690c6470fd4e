// Encoders of a credential (what an echoing upstream sends back) and an independent decoder
// that says whether some bytes still hold it (what an agent could recover), for the adversarial
// tests and the fuzz properties. Neither uses airlock's code: the decoder judges its scrubbing.

const hex2 = (b: number, upper = false) => (upper ? b.toString(16).toUpperCase() : b.toString(16)).padStart(2, '0');
const pct = (s: string, upper = false) => [...Buffer.from(s)].map((b) => `%${hex2(b, upper)}`).join('');
/** base64 (or base64url) of `v` inside a longer text, starting `pad` bytes in: alignment pad mod 3. */
const b64At = (v: string, pad: number, url = false) => Buffer.from(`${'x'.repeat(pad)}${v}yz`).toString(url ? 'base64url' : 'base64');
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32(b: Buffer): string {
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const byte of b) {
    acc = ((acc << 8) | byte) & 0xfff;
    bits += 8;
    while (bits >= 5) out += B32[(acc >> (bits -= 5)) & 31];
  }
  return bits ? out + B32[(acc << (5 - bits)) & 31] : out;
}

function unbase32(s: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let acc = 0;
  for (const c of s.toUpperCase()) {
    const v = B32.indexOf(c);
    if (v < 0) continue;
    acc = ((acc << 5) | v) & 0xfff;
    bits += 5;
    if (bits >= 8) out.push((acc >> (bits -= 8)) & 0xff);
  }
  return Buffer.from(out);
}

/** Every encoding docs/security.md lists for echoed credentials, as an upstream would write it. */
export const ECHO_ENCODINGS: [name: string, encode: (v: string) => string][] = [
  ['as sent', (v) => v],
  ['hex', (v) => Buffer.from(v).toString('hex')],
  ['HEX', (v) => Buffer.from(v).toString('hex').toUpperCase()],
  ...[0, 1, 2].map((pad): [string, (v: string) => string] => [`base64, offset ${pad}`, (v) => b64At(v, pad)]),
  ...[0, 1, 2].map((pad): [string, (v: string) => string] => [`base64url, offset ${pad}`, (v) => b64At(v, pad, true)]),
  ...[0, 1, 2, 3, 4].map((pad): [string, (v: string) => string] => [`base32, offset ${pad}`, (v) => base32(Buffer.from(`${'q'.repeat(pad)}${v}`))]),
  ['base32, lower case', (v) => base32(Buffer.from(v)).toLowerCase()],
  ['percent-encoded (lower case)', (v) => pct(v)],
  ['percent-encoded (upper case)', (v) => pct(v, true)],
  ['percent-encoded in part', (v) => [...v].map((c, i) => (i % 3 === 0 ? pct(c, true) : c)).join('')],
  ['percent-encoded twice', (v) => encodeURIComponent(pct(v))],
  ['JSON \\u escapes', (v) => [...v].map((c) => `\\u00${hex2(c.charCodeAt(0))}`).join('')],
  ['JSON, some characters escaped', (v) => [...v].map((c, i) => (i % 2 ? `\\u00${hex2(c.charCodeAt(0), true)}` : c)).join('')],
  ['JS \\x escapes', (v) => [...v].map((c) => `\\x${hex2(c.charCodeAt(0))}`).join('')],
  ['HTML decimal references', (v) => [...v].map((c) => `&#${c.charCodeAt(0)};`).join('')],
  ['HTML hex references', (v) => [...v].map((c) => `&#x${hex2(c.charCodeAt(0), true)};`).join('')],
  ['UTF-16LE', (v) => Buffer.from(v, 'utf16le').toString('latin1')],
  ['UTF-16BE', (v) => Buffer.from(v, 'utf16le').swap16().toString('latin1')],
  ['base64, MIME lines of 76', (v) => Buffer.from(`${'m'.repeat(50)}${v}${'n'.repeat(40)}`).toString('base64').replace(/(.{76})/g, '$1\r\n')],
  ['base64 in a JSON string, lines of 20 as \\n', (v) => JSON.stringify(b64At(v, 2).replace(/(.{20})/g, '$1\n')).slice(1, -1)],
  ['base64, percent-encoded', (v) => encodeURIComponent(b64At(v, 1))],
  ['hex, percent-encoded', (v) => pct(Buffer.from(v).toString('hex'))],
  ['the token alone', (v) => v.replace(/^Bearer /, '')],
  ['the token alone, base64 at offset 1', (v) => b64At(v.replace(/^Bearer /, ''), 1)],
  ['the token alone, hex', (v) => Buffer.from(v.replace(/^Bearer /, '')).toString('hex')],
];

/** Decodings an agent could try on what it got: escapes undone, line breaks removed, UTF-16 read. */
function views(text: string): string[] {
  const pctd = (s: string) => s.replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  const unescaped = (s: string) =>
    s
      .replace(/\\u([0-9a-f]{4})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
      .replace(/\\x([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
      .replace(/\\([/"\\])/g, '$1')
      .replace(/\\[nrt]/g, '\n')
      .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
      .replace(/&#([0-9]+);/g, (_, d: string) => String.fromCharCode(Number(d)));
  const out = new Set<string>();
  for (const t of [text, pctd(text), pctd(pctd(text))]) {
    const u = unescaped(t);
    for (const x of [t, u, u.replace(/[\r\n\t ]+/g, '')]) {
      out.add(x);
      const b = Buffer.from(x, 'latin1');
      for (const k of [0, 1]) {
        const even = Buffer.from(b.subarray(k, k + ((b.length - k) & ~1)));
        out.add(even.toString('utf16le'));
        out.add(even.swap16().toString('utf16le'));
      }
    }
  }
  return [...out];
}

/** Whether `bytes` hold `secret` in any encoding above (a decoder the agent could run). */
export function holdsSecret(bytes: Buffer | string, secret: string): boolean {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('latin1');
  for (const v of views(text)) {
    if (v.includes(secret)) return true;
    for (const m of v.match(/[0-9a-fA-F]{16,}/g) ?? []) {
      for (const s of [0, 1]) if (Buffer.from(m.slice(s).slice(0, (m.length - s) & ~1), 'hex').toString('latin1').includes(secret)) return true;
    }
    for (const m of v.match(/[A-Za-z0-9+/_-]{16,}/g) ?? []) {
      const std = m.replace(/-/g, '+').replace(/_/g, '/');
      for (let s = 0; s < 4; s++) if (Buffer.from(std.slice(s), 'base64').toString('latin1').includes(secret)) return true;
    }
    for (const m of v.match(/[A-Za-z2-7]{16,}/g) ?? []) {
      for (let s = 0; s < 8; s++) if (unbase32(m.slice(s)).toString('latin1').includes(secret)) return true;
    }
  }
  return false;
}
