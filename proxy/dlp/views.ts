// Decoded views of a byte buffer, so a secret is found however the agent encoded it: JSON string
// escapes (`\n`, `\uXXXX`, `\/`), URL percent-encoding, and base64 segments. A view maps every
// decoded position back to the raw bytes, so a finding can name (and redact) the raw span.

export interface View {
  buf: Buffer;
  /** Raw position of the first raw byte behind decoded position `d`. */
  rawStart(d: number): number;
  /** Raw position just after the raw bytes behind decoded position `d - 1`. */
  rawEnd(d: number): number;
  /** The first decoded position whose raw start is >= `raw`. */
  fromRaw(raw: number): number;
}

/** A decoded buffer with, for every decoded byte, the raw position of the unit it came from. */
class MapView implements View {
  constructor(
    readonly buf: Buffer,
    private readonly map: Int32Array,
    private readonly rawLength: number,
  ) {}

  rawStart(d: number): number {
    return d >= this.buf.length ? this.rawLength : this.map[d];
  }

  rawEnd(d: number): number {
    if (d <= 0) return 0;
    const unit = this.map[d - 1];
    // Past the rest of a multi-byte unit (a \u escape decoding to several UTF-8 bytes).
    while (d < this.buf.length && this.map[d] === unit) d++;
    return d >= this.buf.length ? this.rawLength : this.map[d];
  }

  fromRaw(raw: number): number {
    let lo = 0;
    let hi = this.buf.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.map[mid] < raw) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

const BACKSLASH = 0x5c;
const PERCENT = 0x25;
// Indexed by the byte after the backslash; 0: not a simple escape.
const SIMPLE = new Uint8Array(256);
for (const [k, v] of [['n', 0x0a], ['r', 0x0d], ['t', 0x09], ['b', 0x08], ['f', 0x0c], ['/', 0x2f], ['\\', 0x5c], ['"', 0x22], ["'", 0x27]] as const) {
  SIMPLE[k.charCodeAt(0)] = v;
}

/** JSON (and JS) string escapes decoded; null when the buffer has no escape. Never longer than the input. */
export function jsonUnescapeView(src: Buffer): View | null {
  let at = src.indexOf(BACKSLASH);
  if (at < 0) return null;
  const n = src.length;
  const out = Buffer.allocUnsafe(n);
  const map = new Int32Array(n);
  let o = 0;
  // Everything before the first backslash is copied as is.
  src.copy(out, 0, 0, at);
  for (; o < at; o++) map[o] = o;
  let any = false;
  let i = at;
  while (i < n) {
    const c = src[i];
    if (c !== BACKSLASH || i + 1 >= n) {
      map[o] = i;
      out[o++] = c;
      i++;
      continue;
    }
    const simple = SIMPLE[src[i + 1]];
    if (simple) {
      map[o] = i;
      out[o++] = simple;
      i += 2;
      any = true;
      continue;
    }
    const hi = src[i + 1] === 0x75 /* u */ && i + 6 <= n ? hex4(src, i + 2) : -1;
    if (hi < 0) {
      map[o] = i;
      out[o++] = c;
      i++;
      continue;
    }
    let consumed = 6;
    let code = hi;
    // A surrogate pair is two escapes for one code point.
    if (hi >= 0xd800 && hi < 0xdc00 && src[i + 6] === BACKSLASH && src[i + 7] === 0x75 && i + 12 <= n) {
      const lo = hex4(src, i + 8);
      if (lo >= 0xdc00 && lo < 0xe000) {
        code = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
        consumed = 12;
      }
    }
    if (code >= 0xd800 && code < 0xe000) code = 0xfffd; // a lone surrogate
    const start = o;
    o = putUtf8(out, o, code);
    for (let k = start; k < o; k++) map[k] = i;
    i += consumed;
    any = true;
  }
  return any ? new MapView(out.subarray(0, o), map, n) : null;
}

/** Percent-encoding decoded (and `+` as a space in forms); null when there is nothing to decode. */
export function urlDecodeView(src: Buffer, plusIsSpace: boolean): View | null {
  const first = src.indexOf(PERCENT);
  const plus = plusIsSpace ? src.indexOf(0x2b) : -1;
  if (first < 0 && plus < 0) return null;
  const n = src.length;
  const out = Buffer.allocUnsafe(n);
  const map = new Int32Array(n);
  let o = 0;
  let any = false;
  for (let i = 0; i < n; ) {
    const c = src[i];
    map[o] = i;
    if (c === PERCENT) {
      const v = hex2(src, i + 1);
      if (v >= 0) {
        out[o++] = v;
        i += 3;
        any = true;
        continue;
      }
    } else if (c === 0x2b && plusIsSpace) {
      out[o++] = 0x20;
      i++;
      any = true;
      continue;
    }
    out[o++] = c;
    i++;
  }
  return any ? new MapView(out.subarray(0, o), map, n) : null;
}

function putUtf8(o: Buffer, at: number, cp: number): number {
  if (cp < 0x80) o[at++] = cp;
  else if (cp < 0x800) {
    o[at++] = 0xc0 | (cp >> 6);
    o[at++] = 0x80 | (cp & 0x3f);
  } else if (cp < 0x10000) {
    o[at++] = 0xe0 | (cp >> 12);
    o[at++] = 0x80 | ((cp >> 6) & 0x3f);
    o[at++] = 0x80 | (cp & 0x3f);
  } else {
    o[at++] = 0xf0 | (cp >> 18);
    o[at++] = 0x80 | ((cp >> 12) & 0x3f);
    o[at++] = 0x80 | ((cp >> 6) & 0x3f);
    o[at++] = 0x80 | (cp & 0x3f);
  }
  return at;
}

/** A view stacked on another: positions map through both. */
export function stack(outer: View, inner: View): View {
  return {
    buf: inner.buf,
    rawStart: (d) => outer.rawStart(inner.rawStart(d)),
    rawEnd: (d) => outer.rawEnd(inner.rawEnd(d)),
    fromRaw: (raw) => inner.fromRaw(outer.fromRaw(raw)),
  };
}

export const IDENTITY = (buf: Buffer): View => ({ buf, rawStart: (d) => d, rawEnd: (d) => d, fromRaw: (r) => r });

function hex4(b: Buffer, at: number): number {
  const x = hex2(b, at);
  const y = hex2(b, at + 2);
  return x < 0 || y < 0 ? -1 : (x << 8) | y;
}

function hex2(b: Buffer, at: number): number {
  if (at + 2 > b.length) return -1;
  const x = hexDigit(b[at]);
  const y = hexDigit(b[at + 1]);
  return x < 0 || y < 0 ? -1 : (x << 4) | y;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}
