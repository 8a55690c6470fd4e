// Scans one buffer through its decoded views: raw, JSON-unescaped, URL-decoded, and base64
// segments (recursively, so base64 inside JSON inside a form is found). Every match comes back in
// raw coordinates; a match inside a base64 segment covers the whole segment.
import { isUtf8 } from 'node:buffer';
import RE2 from 're2';
import type { CompiledRule, Engine } from './engine.ts';
import { findMatchesRe2 } from './re2-engine.ts';
import { IDENTITY, jsonUnescapeView, stack, urlDecodeView, type View } from './views.ts';

interface Span {
  rule: CompiledRule;
  start: number;
  end: number;
  /** The secret's raw span (what is redacted); equals [start, end) for matches in base64. */
  sStart: number;
  sEnd: number;
  /** How it was encoded: '' (as sent), 'json', 'url', 'base64', or a chain like 'json>base64'. */
  via: string;
}

export interface Match extends Span {
  /** The decoded secret, for the masked preview only (never stored whole). */
  secret: string;
}

/** A match as a cache may keep it: the masked preview instead of the secret. */
export interface Remembered extends Span {
  preview: string;
}

export type Scanned = Match | Remembered;

export interface BlockScan {
  matches: Match[];
  /**
   * Raw position before which a streaming caller may commit: a base64 segment that runs to the end
   * of the buffer is kept whole until it ends (up to MAX_SEGMENT bytes).
   */
  holdFrom: number;
  /** Raw spans of the base64 segments decoded here: a streaming caller must not split them. */
  segments: [number, number][];
}

export interface ScanOptions {
  enabled: (ruleIndex: number) => boolean;
  /** The same as one byte per rule (1: enabled), for the native scanner. */
  mask?: Uint8Array;
  /** `+` means a space (application/x-www-form-urlencoded, query strings). */
  form?: boolean;
}

/** base64 segments longer than this (images, archives) are not decoded. */
const MAX_SEGMENT = 64 * 1024;
const MIN_SEGMENT = 24;
const MAX_DEPTH = 3;
/** JSON string layers decoded beyond the first (string in string in string). */
const NESTED_JSON = 2;
// Standard or URL-safe base64, optionally wrapped in lines (MIME, PEM-like).
const SEGMENT = new RE2('[A-Za-z0-9+/_-]{24,}={0,2}(?:\\r?\\n[A-Za-z0-9+/_-]{4,}={0,2})*', 'g');

export function scanBlock(engine: Engine, raw: Buffer, from: number, opts: ScanOptions, final: boolean, depth = 0): BlockScan {
  if (engine.native) return scanNative(engine, raw, from, opts, final);
  // Decoding layers, each a view of the one below; the top one is scanned.
  const layers: { name: string; view: View }[] = [];
  const add = (name: string, v: View | null) => v !== null && layers.push({ name, view: v }) > 0;
  const top = () => (layers.length ? layers[layers.length - 1].view.buf : raw);
  // Binary bytes (images, archives) are scanned as they are: escapes and encodings mean
  // something only in text, and decoding noise costs time for nothing.
  if (looksLikeText(raw, from)) {
    add('json', jsonUnescapeView(raw));
    add('url', urlDecodeView(top(), opts.form === true));
  }
  // JSON inside a JSON string (tool-call arguments, a tool result quoting JSON), or a JSON
  // document sent URL-encoded: more escapes appear once one layer is decoded.
  for (let k = 0; k < NESTED_JSON && layers.length; k++) if (!add('json', jsonUnescapeView(top()))) break;
  const view = layers.reduce((v, l) => stack(v, l.view), IDENTITY(raw));
  const vFrom = view.fromRaw(from);
  const matches: Match[] = [];
  for (const m of findMatchesRe2(engine.re2, view.buf, vFrom, opts.enabled)) {
    const secret = view.buf.subarray(m.sStart, m.sEnd);
    matches.push({
      rule: m.rule,
      start: view.rawStart(m.start),
      end: view.rawEnd(m.end),
      sStart: view.rawStart(m.sStart),
      sEnd: view.rawEnd(m.sEnd),
      via: viaOf(layers, raw, m.sStart, m.sEnd),
      secret: secret.toString('utf8'),
    });
  }
  let holdFrom = raw.length;
  const segments: [number, number][] = [];
  if (depth < MAX_DEPTH) {
    // Collected first: the recursive scans below reuse SEGMENT.
    const found: [number, number][] = [];
    const buf = view.buf;
    SEGMENT.lastIndex = vFrom;
    for (let s = SEGMENT.exec(buf); s; s = SEGMENT.exec(buf)) found.push([s.index, s.index + s[0].length]);
    for (const [start, end] of found) {
      if (!final && end === buf.length) {
        // Runs to the end: may continue in the next chunk. Keep it whole unless it is too long to matter.
        if (end - start <= MAX_SEGMENT) holdFrom = Math.min(holdFrom, view.rawStart(start));
        break;
      }
      if (end - start > MAX_SEGMENT) continue;
      const rs = view.rawStart(start);
      const re = view.rawEnd(end);
      segments.push([rs, re]);
      const decoded = decodeBase64(buf.subarray(start, end));
      if (!decoded) continue;
      const inner = scanBlock(engine, decoded, 0, { enabled: opts.enabled }, true, depth + 1);
      const outer = viaOf(layers, raw, start, end);
      for (const m of inner.matches) {
        matches.push({ rule: m.rule, start: rs, end: re, sStart: rs, sEnd: re, via: [outer, 'base64', m.via].filter(Boolean).join('>'), secret: m.secret });
      }
    }
  }
  return { matches: dedupe(matches), holdFrom, segments };
}

/** The same scan in native code (native/dlp/src/scan.cc); validators run here, then de-duplication. */
function scanNative(engine: Engine, raw: Buffer, from: number, opts: ScanOptions, final: boolean): BlockScan {
  const mask = opts.mask ?? enabledMask(engine, opts.enabled);
  const [holdFrom, flat, found] = engine.native!.scan(raw, from, mask, opts.form === true, final);
  const matches: Match[] = [];
  for (const [r, start, end, sStart, sEnd, via, bytes] of found) {
    const rule = engine.rules[r];
    const secret = bytes.toString('utf8');
    if (rule.rule.validate && !rule.rule.validate(secret)) continue;
    matches.push({ rule, start, end, sStart, sEnd, via, secret });
  }
  const segments: [number, number][] = [];
  for (let i = 0; i < flat.length; i += 2) segments.push([flat[i], flat[i + 1]]);
  return { matches: dedupe(matches), holdFrom, segments };
}

export function enabledMask(engine: Engine, enabled: (ruleIndex: number) => boolean): Uint8Array {
  const mask = new Uint8Array(engine.rules.length);
  for (let i = 0; i < mask.length; i++) mask[i] = enabled(i) ? 1 : 0;
  return mask;
}

/**
 * The layers that changed the span [s, e) of the top view: named only when decoding mattered
 * there, so the label does not depend on other bytes nearby (and so not on chunking).
 */
function viaOf(layers: { name: string; view: View }[], raw: Buffer, s: number, e: number): string {
  const names: string[] = [];
  for (let i = layers.length - 1; i >= 0; i--) {
    const { view } = layers[i];
    const below = i > 0 ? layers[i - 1].view.buf : raw;
    const bs = view.rawStart(s);
    const be = view.rawEnd(e);
    if (!below.subarray(bs, be).equals(view.buf.subarray(s, e))) names.unshift(layers[i].name);
    s = bs;
    e = be;
  }
  return names.join('>');
}

/** Text decoded from a base64 segment, or null when it is binary (images, hashes, random tokens). */
function decodeBase64(seg: Buffer): Buffer | null {
  const text = seg.toString('latin1');
  const out = Buffer.from(text.includes('-') || text.includes('_') ? text.replace(/-/g, '+').replace(/_/g, '/') : text, 'base64');
  if (out.length < MIN_SEGMENT * 0.75 - 2) return null;
  return mostlyText(out) ? out : null;
}

/** UTF-8 text, allowing a character cut at either end of the window. */
function looksLikeText(b: Buffer, from: number): boolean {
  let s = Math.max(0, from - 64);
  while (s < b.length && s < from && (b[s] & 0xc0) === 0x80) s++;
  let e = b.length;
  for (let k = 0; k < 3 && e > s && (b[e - 1] & 0x80) !== 0; k++) e--;
  return isUtf8(b.subarray(s, e));
}

/** Valid UTF-8 that is nearly all printable (ASCII, whitespace or multi-byte characters). */
function mostlyText(b: Buffer): boolean {
  if (!isUtf8(b)) return false;
  const n = Math.min(b.length, 512);
  let text = 0;
  for (let i = 0; i < n; i++) {
    const c = b[i];
    if ((c >= 0x20 && c < 0x7f) || c === 0x0a || c === 0x0d || c === 0x09 || c >= 0x80) text++;
  }
  return text >= n * 0.95;
}

/** The same secret found in two views (or twice via base64) is one finding. */
export function dedupe(ms: Match[]): Match[] {
  if (ms.length < 2) return ms;
  const seen = new Set<string>();
  const out: Match[] = [];
  for (const m of ms.sort((a, b) => a.start - b.start || a.rule.index - b.rule.index)) {
    const k = `${m.rule.index}:${m.sStart}:${m.sEnd}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(m);
    }
  }
  return out;
}
