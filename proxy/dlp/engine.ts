// A compiled DLP rule set: the native scanner (native.ts) when it is built, else the node-re2
// engine (re2-engine.ts). Both find candidates from each rule's keywords (the native one may use a
// rule's `prefilter` pattern instead), then run the rule's RE2 pattern within its longest match of
// each candidate, so both find the same matches (test/unit/dlp-engines.test.ts).
import type { DlpRule } from '../../policies/dlp/types.ts';
import { type NativeEngine, type NativeRuleSpec, nativeAddon } from './native.ts';
import { compileRe2, findMatchesRe2, type Re2Engine } from './re2-engine.ts';
import { maxMatchLength } from './span.ts';

export interface CompiledRule {
  rule: DlpRule;
  index: number;
  /** Longest possible match (span.ts): the rule runs only within this distance of its candidates. */
  maxLen: number;
}

export interface Engine {
  rules: CompiledRule[];
  /** The native scanner, or null where it is not built (or AIRLOCK_DLP_ENGINE=re2). */
  native: NativeEngine | null;
  /** The node-re2 engine, compiled on first use (always, where native is null). */
  readonly re2: Re2Engine;
}

/** A match in buffer coordinates: [start, end) the whole match, [sStart, sEnd) the secret. */
export interface RawMatch {
  rule: CompiledRule;
  start: number;
  end: number;
  sStart: number;
  sEnd: number;
}

/**
 * Compiled native rule sets by content: every policy load (reload, check-config, each test's
 * policy) would otherwise compile the same pack again (Hyperscan takes tens of milliseconds).
 */
const nativeCache = new Map<string, NativeEngine>();
const NATIVE_CACHE_SIZE = 8;

export function compileEngine(rules: readonly DlpRule[], opts: { native?: boolean } = {}): Engine {
  const compiled = rules.map((rule, index) => ({ rule, index, maxLen: maxMatchLength(rule.pattern) }));
  const addon = opts.native === false ? null : nativeAddon();
  let native: NativeEngine | null = null;
  if (addon) {
    const specs: NativeRuleSpec[] = compiled.map((c) => ({
      pattern: c.rule.pattern,
      keywords: c.rule.keywords,
      ...(c.rule.prefilter ? { prefilter: c.rule.prefilter } : {}),
      maxLen: c.maxLen,
    }));
    const key = JSON.stringify(specs);
    native = nativeCache.get(key) ?? null;
    if (!native) {
      native = new addon.Engine(specs);
      nativeCache.set(key, native);
      if (nativeCache.size > NATIVE_CACHE_SIZE) nativeCache.delete(nativeCache.keys().next().value!);
    }
  }
  let re2: Re2Engine | undefined;
  return {
    rules: compiled,
    native,
    get re2() {
      return (re2 ??= compileRe2(compiled));
    },
  };
}

/**
 * Every match of every enabled rule that starts at or after `from`, in the bytes as they are (no
 * decoding views: scan.ts adds those), validated. Matches of one rule do not overlap.
 */
export function findMatches(engine: Engine, buf: Buffer, from: number, enabled: (ruleIndex: number) => boolean): RawMatch[] {
  if (!engine.native) return findMatchesRe2(engine.re2, buf, from, enabled);
  const mask = new Uint8Array(engine.rules.length);
  for (let i = 0; i < mask.length; i++) mask[i] = enabled(i) ? 1 : 0;
  const out: RawMatch[] = [];
  for (const [r, start, end, sStart, sEnd, , secret] of engine.native.find(buf, from, mask)) {
    const c = engine.rules[r];
    if (c.rule.validate && !c.rule.validate(secret.toString('utf8'))) continue;
    out.push({ rule: c, start, end, sStart, sEnd });
  }
  return out;
}
