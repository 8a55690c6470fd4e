// The forms of an injected credential that an upstream could hand back and that airlock can
// enumerate: the value as is, hex (lower and upper case), base64 and base64url at each of the 3
// alignments, base32 (upper and lower case) at each of the 5 alignments, and UTF-16 (LE, BE).
// Each form is plain text here; echo-match.ts also reads every character of a form
// percent-encoded, JSON/JS-escaped or as an HTML character reference, and across line breaks.

/** Shorter derived values and forms are not scrubbed: too likely to occur by chance. */
export const MIN_FORM = 8;

/**
 * The values to keep from the agent for one injected secret: the value itself and, for an
 * `Authorization`-style value (`Bearer TOKEN`, `Basic BASE64`), the token alone and the decoded
 * `user:password` and password, which an upstream may echo without the scheme.
 */
export function credentialValues(secret: string): string[] {
  const out = new Set([secret]);
  const m = /^([A-Za-z][A-Za-z0-9._~+/-]*) +(\S+)$/.exec(secret);
  if (m) {
    const token = m[2];
    if (token.length >= MIN_FORM) out.add(token);
    if (m[1].toLowerCase() === 'basic') {
      const decoded = Buffer.from(token, 'base64').toString('latin1');
      const colon = decoded.indexOf(':');
      if (colon > 0 && /^[\x20-\x7e]+$/.test(decoded)) {
        if (decoded.length >= MIN_FORM) out.add(decoded);
        if (decoded.length - colon - 1 >= MIN_FORM) out.add(decoded.slice(colon + 1));
      }
    }
  }
  return [...out];
}

/** Every form of `value` (deduplicated); the value itself first, whatever its length. */
export function echoForms(value: Buffer): Buffer[] {
  const forms = new Set<string>();
  const hex = value.toString('hex');
  forms.add(hex);
  forms.add(hex.toUpperCase());
  for (let a = 0; a < 3; a++) {
    const b64 = stable(value, a, 6, (b) => b.toString('base64'));
    forms.add(b64);
    forms.add(b64.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  for (let a = 0; a < 5; a++) {
    const b32 = stable(value, a, 5, base32);
    forms.add(b32);
    forms.add(b32.toLowerCase());
  }
  const utf16 = Buffer.from(value.toString('utf8'), 'utf16le');
  const out = [value, ...[...forms].map((f) => Buffer.from(f, 'latin1')), utf16, Buffer.from(utf16).swap16()];
  return out.filter((f, i) => (i === 0 || f.length >= MIN_FORM) && out.findIndex((g) => g.equals(f)) === i);
}

/**
 * The characters of an encoding of `value` that depend on `value` alone, when `value` starts
 * `align` bytes into the encoded data: a copy embedded in a longer text, at that offset modulo
 * the group size, contains exactly these characters whatever surrounds it.
 */
function stable(value: Buffer, align: number, bitsPerChar: number, encode: (b: Buffer) => string): string {
  const text = encode(Buffer.concat([Buffer.alloc(align), value, Buffer.alloc(5)]));
  const from = Math.ceil((8 * align) / bitsPerChar);
  const to = Math.floor((8 * (align + value.length)) / bitsPerChar);
  return to > from ? text.slice(from, to) : '';
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32, without padding. */
function base32(b: Buffer): string {
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const byte of b) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  return bits > 0 ? out + BASE32[(acc << (5 - bits)) & 31] : out;
}
