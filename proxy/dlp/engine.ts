// A compiled DLP rule set and the one function that finds rule matches in a byte buffer.
// One RE2.Set pass (each rule's keywords, plus the full pattern of rules without keywords) says
// which rules can match at all; only those run their own RE2 pattern. All RE2: linear time.
import RE2 from 're2';
import type { DlpRule } from '../../policies/dlp/types.ts';

export interface CompiledRule {
  rule: DlpRule;
  index: number;
  re: RE2;
  /** The pattern has a capture group: group 1 is the secret. */
  grouped: boolean;
}

export interface Engine {
  rules: CompiledRule[];
  /** Set pattern index -> rule indexes it enables. */
  prefilter: ReturnType<typeof RE2.Set> | null;
  enables: number[][];
}

/** A match in buffer coordinates: [start, end) the whole match, [sStart, sEnd) the secret. */
export interface RawMatch {
  rule: CompiledRule;
  start: number;
  end: number;
  sStart: number;
  sEnd: number;
}

export function compileEngine(rules: readonly DlpRule[]): Engine {
  const compiled = rules.map((rule, index) => {
    const re = new RE2(rule.pattern, 'gd');
    return { rule, index, re, grouped: groupCount(rule.pattern) > 0 };
  });
  const patterns: string[] = [];
  const enables: number[][] = [];
  const byKeyword = new Map<string, number>();
  for (const c of compiled) {
    if (c.rule.keywords.length === 0) {
      patterns.push(c.rule.pattern);
      enables.push([c.index]);
      continue;
    }
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
  return { rules: compiled, prefilter: patterns.length ? new RE2.Set(patterns) : null, enables };
}

/**
 * Every match of every enabled rule that starts at or after `from` (bytes before it are left
 * context only: `\b` still sees them). Matches of one rule do not overlap; different rules may.
 */
export function findMatches(engine: Engine, buf: Buffer, from: number, enabled: (ruleIndex: number) => boolean): RawMatch[] {
  if (from >= buf.length || !engine.prefilter) return [];
  const hits = engine.prefilter.match(from > 0 ? buf.subarray(from - 1) : buf);
  if (hits.length === 0) return [];
  const run = new Set<number>();
  for (const h of hits) for (const r of engine.enables[h]) if (enabled(r)) run.add(r);
  const out: RawMatch[] = [];
  for (const r of run) {
    const c = engine.rules[r];
    const re = c.re;
    re.lastIndex = from;
    let m: RE2ExecArray | null;
    while ((m = re.exec(buf) as RE2ExecArray | null)) {
      const [start, end] = m.indices[0];
      if (end === start) re.lastIndex = end + 1; // an empty match must not loop
      const g = c.grouped ? m.indices[1] : undefined;
      const [sStart, sEnd] = g ?? [start, end];
      if (c.rule.validate && !c.rule.validate(buf.toString('utf8', sStart, sEnd))) continue;
      out.push({ rule: c, start, end, sStart, sEnd });
    }
  }
  return out.sort((a, b) => a.start - b.start || a.rule.index - b.rule.index);
}

type RE2ExecArray = RegExpExecArray & { indices: [number, number][] };

/** Capturing groups in an RE2 pattern: `(` not escaped, not in a class, not `(?`. */
export function groupCount(pattern: string): number {
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
