// Reads one form of a credential (echo-forms.ts) in text where any of its characters may be
// escaped: `%41` (any case, or double-encoded `%2541`), `\u0041`, `\x41`, `\/` `\"` `\\`,
// `&#65;` / `&#x41;`, `+` for a space; and where a line break (raw, `\n`, `%0A`, `&#10;`, with
// spaces or tabs around it) may sit between two characters (wrapped base64, hex or text).

/** No occurrence here. */
export const NO = -1;
/** matchAt: at or below, the text ended inside a possible occurrence (units(), inGap() say how). */
export const PARTIAL = -2;
const partial = (k: number, gap: boolean) => PARTIAL - 2 * k - (gap ? 1 : 0);
/** How many characters of the form a partial match holds. */
export const units = (m: number) => (PARTIAL - m) >> 1;
/** Whether a partial match ended inside a line-break gap (after its last character). */
export const inGap = (m: number) => ((PARTIAL - m) & 1) === 1;
/** escapeAt: the text ends inside an escape; more bytes decide. */
export const MORE = -2;

/** Widest spelling of one character (`&#x0041;`). */
export const MAX_UNIT = 8;
/** Line-break gaps in one occurrence, in bytes. */
const MAX_GAP_BYTES = 64;
const MAX_ONE_GAP = 16;

const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX[0x41 + i] = HEX[0x61 + i] = 10 + i;

/** Bytes that may start an escaped character. */
export const INTRODUCERS = [0x25, 0x5c, 0x26] as const; // % \ &

/**
 * The escape at b[i]: (width << 8) | value, NO when b[i] starts no escape, MORE when `end`
 * cuts it. Values above 0x7f are not read from \u or &# (a secret is matched as bytes).
 */
export function escapeAt(b: Buffer, i: number, end: number): number {
  const c = b[i];
  if (c === 0x25) {
    // %HH, or %25HH (double percent-encoding)
    let j = i + 1;
    if (j + 1 < end && b[j] === 0x32 && b[j + 1] === 0x35 && (j + 2 >= end || HEX[b[j + 2]] >= 0)) {
      if (j + 3 >= end) return MORE;
      if (HEX[b[j + 3]] >= 0) j += 2;
    }
    return hexAt(b, j, end, 2, j + 2 - i);
  }
  if (c === 0x5c) {
    if (i + 1 >= end) return MORE;
    const d = b[i + 1];
    if (d === 0x75) return hexAt(b, i + 2, end, 4, 6); // \uHHHH
    if (d === 0x78) return hexAt(b, i + 2, end, 2, 4); // \xHH
    if (d === 0x2f || d === 0x22 || d === 0x5c) return (2 << 8) | d; // \/ \" \\
    if (d === 0x6e) return (2 << 8) | 0x0a; // \n
    if (d === 0x72) return (2 << 8) | 0x0d; // \r
    if (d === 0x74) return (2 << 8) | 0x09; // \t
    return NO;
  }
  if (c === 0x26) return charRefAt(b, i, end);
  return NO;
}

/** `n` hex digits at b[j] form the value; `width` counts from the escape's first byte. */
function hexAt(b: Buffer, j: number, end: number, n: number, width: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    if (j + k >= end) return MORE;
    const h = HEX[b[j + k]];
    if (h < 0) return NO;
    v = v * 16 + h;
  }
  return v > 0x7f && n === 4 ? NO : (width << 8) | v;
}

/** `&#65;`, `&#x41;` (up to MAX_UNIT bytes in all, leading zeros allowed). */
function charRefAt(b: Buffer, i: number, end: number): number {
  if (i + 1 >= end) return MORE;
  if (b[i + 1] !== 0x23) return NO;
  let j = i + 2;
  if (j >= end) return MORE;
  const hex = b[j] === 0x78 || b[j] === 0x58;
  if (hex) j++;
  let v = 0;
  const first = j;
  for (; j < end && j - i < MAX_UNIT; j++) {
    const c = b[j];
    if (c === 0x3b) break;
    const d = hex ? HEX[c] : c >= 0x30 && c <= 0x39 ? c - 0x30 : -1;
    if (d < 0) return NO;
    v = v * (hex ? 16 : 10) + d;
  }
  if (j >= end) return j - i < MAX_UNIT ? MORE : NO;
  if (b[j] !== 0x3b || j === first || v > 0x7f) return NO;
  return ((j + 1 - i) << 8) | v;
}

/** Width of a spelling of byte `c` at b[i]; NO, or MORE when the text ends inside it. */
function unitAt(b: Buffer, i: number, end: number, c: number): number {
  if (i >= end) return MORE;
  const x = b[i];
  if (x === c) return 1;
  if (x === 0x2b && c === 0x20) return 1; // '+' for a space (forms, query strings)
  const e = escapeAt(b, i, end);
  if (e === MORE) return MORE;
  return e >= 0 && (e & 0xff) === c ? e >> 8 : NO;
}

/**
 * End of a line-break gap at b[i] (a CR or LF, with spaces or tabs around it), NO, or MORE.
 * `rest`: the rest of a gap that began before b[i] (no line break needed).
 */
export function gapAt(b: Buffer, i: number, end: number, rest = false): number {
  let j = i;
  let breaks = rest ? 1 : 0;
  while (j - i < MAX_ONE_GAP) {
    if (j >= end) return MORE;
    const x = b[j];
    if (x === 0x0a || x === 0x0d) {
      breaks++;
      j++;
    } else if (x === 0x20 || x === 0x09) j++;
    else {
      const e = escapeAt(b, j, end);
      if (e === MORE) return MORE;
      const v = e & 0xff;
      if (e < 0 || (v !== 0x0a && v !== 0x0d && v !== 0x09 && v !== 0x20)) break;
      if (v === 0x0a || v === 0x0d) breaks++;
      j += e >> 8;
    }
  }
  return breaks > 0 ? j : NO;
}

/**
 * The end of an occurrence of `form` starting at b[i], NO, or (at most PARTIAL) how far a
 * possible occurrence got when the text ended (more bytes could complete it).
 */
export function matchAt(b: Buffer, i: number, end: number, form: Buffer): number {
  let gaps = 0;
  for (let k = 0; k < form.length; k++) {
    const c = form[k];
    if (i < end && b[i] === c) {
      i++;
      continue;
    }
    let w = unitAt(b, i, end, c);
    if (w === NO && k > 0) {
      const g = gapAt(b, i, end);
      if (g === MORE) return partial(k, true);
      if (g === NO || (gaps += g - i) > MAX_GAP_BYTES) return NO;
      i = g;
      w = unitAt(b, i, end, c);
    }
    if (w === MORE) return partial(k, false);
    if (w === NO) return NO;
    i += w;
  }
  return i;
}

/** The widest text an occurrence of a form of `length` characters can take. */
export function maxWidth(length: number): number {
  return length * MAX_UNIT + MAX_GAP_BYTES;
}
