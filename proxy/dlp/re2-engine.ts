// The portable DLP engine (node-re2), used where the native one (native/dlp) is not built, and as
// its reference in tests: one RE2.Set pass (each rule's keywords, plus the full pattern of rules
// without keywords) says which rules can match at all; only those run their own RE2 pattern, near
// their keywords. All RE2: linear time.
import RE2 from 're2';
import type { DlpRule } from '../../policies/dlp/types.ts';
import type { CompiledRule, RawMatch } from './engine.ts';

interface Re2Rule {
  c: CompiledRule;
  re: RE2;
  /** The pattern has capture groups: the first that took part in a match is the secret. */
  grouped: boolean;
}

export interface Re2Engine {
  rules: Re2Rule[];
  /** A Set of every rule's keywords; pattern index -> the rule indexes it enables. */
  prefilter: ReturnType<typeof RE2.Set> | null;
  enables: number[][];
  /** Rules without keywords, prefiltered by a Set of their full patterns (few and small). */
  always: { set: ReturnType<typeof RE2.Set>; rules: number[] } | null;
}

export function compileRe2(rules: readonly CompiledRule[]): Re2Engine {
  const compiled = rules.map((c) => ({ c, re: new RE2(c.rule.pattern, 'gd'), grouped: groupCount(c.rule.pattern) > 0 }));
  // Keywords, not full patterns: a Set of 132 full patterns compiles too big, and its DFA thrashes
  // on random or base64 bytes (measured: ~1 MB/s). Only the few rules without keywords go in a
  // Set of their own patterns.
  const patterns: string[] = [];
  const enables: number[][] = [];
  const byKeyword = new Map<string, number>();
  for (const { c } of compiled) {
    for (const k of c.rule.keywords) {
      let at = byKeyword.get(k);
      if (at === undefined) {
        at = patterns.length;
        byKeyword.set(k, at);
        patterns.push(`(?i)${escapeRe2(k)}`);
        enables.push([]);
      }
      enables[at].push(c.index);
    }
  }
  const keywordless = compiled.filter(({ c }) => c.rule.keywords.length === 0);
  return {
    rules: compiled,
    prefilter: patterns.length ? new RE2.Set(patterns) : null,
    enables,
    always: keywordless.length ? { set: new RE2.Set(keywordless.map(({ c }) => c.rule.pattern)), rules: keywordless.map(({ c }) => c.index) } : null,
  };
}

/** Past this many keyword occurrences a rule runs over the whole buffer instead. */
const MAX_WINDOWS = 8;
/** Capture groups read per match (native/dlp/src/engine.h kMaxGroups reads as many). */
const MAX_GROUPS = 4;

/**
 * Every match of every enabled rule that starts at or after `from` (bytes before it are left
 * context only: `\b` still sees them). Matches of one rule do not overlap; different rules may.
 */
export function findMatchesRe2(engine: Re2Engine, buf: Buffer, from: number, enabled: (ruleIndex: number) => boolean): RawMatch[] {
  if (from >= buf.length) return [];
  const region = from > 0 ? buf.subarray(from - 1) : buf;
  const run = new Set<number>();
  if (engine.always) for (const h of engine.always.set.match(region)) if (enabled(engine.always.rules[h])) run.add(engine.always.rules[h]);
  if (engine.prefilter) for (const h of engine.prefilter.match(region)) for (const r of engine.enables[h]) if (enabled(r)) run.add(r);
  if (run.size === 0) return [];
  const out: RawMatch[] = [];
  let lower: string | undefined;
  for (const r of run) {
    const rr = engine.rules[r];
    const c = rr.c;
    if (c.rule.keywords.length === 0 || !Number.isFinite(c.maxLen)) {
      execIn(rr, buf, from, buf.length, out);
      continue;
    }
    // Only near the keywords: a match holds one, so it lies within maxLen of it. Found with
    // indexOf on a lower-cased copy (one byte per char), not with more RE2 objects and their caches.
    lower ??= buf.toString('latin1').toLowerCase();
    const windows: [number, number][] = [];
    let covered = 0;
    const dense = () => windows.length > MAX_WINDOWS || covered > (buf.length - from) / 2;
    for (const k of c.rule.keywords) {
      for (let at = lower.indexOf(k, Math.max(0, from - c.maxLen)); at >= 0 && !dense(); at = lower.indexOf(k, at + 1)) {
        const w: [number, number] = [Math.max(from, at - c.maxLen), Math.min(buf.length, at + k.length + c.maxLen)];
        windows.push(w);
        covered += w[1] - w[0];
      }
    }
    // A keyword that occurs often ('@', '+') makes many small runs cost more than one whole pass.
    if (dense()) {
      execIn(rr, buf, from, buf.length, out);
      continue;
    }
    windows.sort((a, b) => a[0] - b[0]);
    let [ws, we] = windows[0] ?? [0, -1];
    for (const [s2, e2] of windows) {
      if (s2 <= we) we = Math.max(we, e2);
      else {
        execIn(rr, buf, ws, we, out);
        [ws, we] = [s2, e2];
      }
    }
    if (we > ws) execIn(rr, buf, ws, we, out);
  }
  return out.sort((a, b) => a.start - b.start || a.rule.index - b.rule.index);
}

/** Matches of one rule starting in [from, to), the bytes before `from` kept as context. */
function execIn({ c, re, grouped }: Re2Rule, buf: Buffer, from: number, to: number, out: RawMatch[]): void {
  const view = to === buf.length ? buf : buf.subarray(0, to);
  re.lastIndex = from;
  let m: RE2ExecArray | null;
  while ((m = re.exec(view) as RE2ExecArray | null)) {
    const [start, found] = m.indices[0];
    const end = armoredEnd(buf, start, found);
    const g = grouped ? m.indices.slice(1, 1 + MAX_GROUPS).find((x) => x !== undefined) : undefined;
    const [sStart, sEnd] = g ?? [start, end];
    // Go on from the secret's end, not the match's: a delimiter the match consumed after the
    // secret (RE2 has no lookahead) may be the one the next secret needs before it.
    re.lastIndex = Math.max(start + 1, g ? sEnd : end);
    if (c.rule.validate && !c.rule.validate(buf.toString('utf8', sStart, sEnd))) continue;
    if (inMarker(buf, sStart, sEnd)) continue;
    out.push({ rule: c, start, end, sStart, sEnd });
  }
}

const BEGIN = Buffer.from('-----BEGIN ');
/** Longest armored block (a PGP key with subkeys is ~7 KB); must stay below stream.ts HOLD. */
const MAX_ARMORED = 12 * 1024;

/**
 * A match that starts with an armor BEGIN line covers its block up to the END line, so redaction
 * removes all of it. Without an END line in sight the block may go on past this buffer: the
 * match then runs to the buffer's end, which keeps it from being released until more arrives (or
 * the body ends, when the rest of the body is the block).
 */
function armoredEnd(buf: Buffer, start: number, end: number): number {
  if (start + BEGIN.length > buf.length || buf.compare(BEGIN, 0, BEGIN.length, start, start + BEGIN.length) !== 0) return end;
  const close = buf.indexOf('-----', start + BEGIN.length);
  if (close < 0 || close - start > 80) return end;
  const marker = Buffer.concat([Buffer.from('-----END '), buf.subarray(start + BEGIN.length, close), Buffer.from('-----')]);
  const at = buf.indexOf(marker, end);
  if (at >= 0 && at + marker.length - start <= MAX_ARMORED) return at + marker.length;
  return buf.length - start < MAX_ARMORED ? buf.length : end;
}

const MARKER = Buffer.from('[REDACTED');

/**
 * A secret that overlaps a redaction marker is part of what airlock wrote (`[REDACTED:x]` read as
 * `user:password`), not something the agent sent; text outside the marker is still scanned.
 */
function inMarker(buf: Buffer, s: number, e: number): boolean {
  const m = buf.lastIndexOf(MARKER, e - 1);
  if (m < 0) return false;
  const close = buf.indexOf(0x5d /* ] */, m);
  return close >= s;
}

type RE2ExecArray = RegExpExecArray & { indices: [number, number][] };

/** Capturing groups in an RE2 pattern: `(` not escaped, not in a class, not `(?`. */
function groupCount(pattern: string): number {
  let n = 0;
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') i++;
    else if (inClass) inClass = ch !== ']';
    else if (ch === '[') inClass = true;
    else if (ch === '(' && (pattern[i + 1] !== '?' || pattern[i + 2] === 'P' || pattern[i + 2] === '<')) n++;
  }
  return n;
}

function escapeRe2(literal: string): string {
  return literal.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}
