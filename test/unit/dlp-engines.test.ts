// The native scanner (native/dlp) and the node-re2 engine it replaces where it is built: the native
// one must be built here (CI installs Hyperscan and RE2), find what the portable one finds, and
// honour every prefilter's contract (policies/dlp/prefilters.ts) on the rules' own examples.
import { it } from '@fast-check/vitest';
import RE2 from 're2';
import { describe, expect, it as plainIt } from 'vitest';
import { ENGINE_PROPS } from '../../bench/fuzz-props-dlp.ts';
import { BUILTIN_RULES } from '../../policies/dlp/index.ts';
import { compileEngine, findMatches } from '../../proxy/dlp/engine.ts';
import { nativeUnavailable } from '../../proxy/dlp/native.ts';

describe('native DLP scanner', () => {
  plainIt('is built (npm run setup installs libhyperscan-dev and libre2-dev; AIRLOCK_DLP_ENGINE=re2 runs the suite without it)', () => {
    if (process.env.AIRLOCK_DLP_ENGINE === 're2') return;
    expect(nativeUnavailable()).toBeUndefined();
  });

  for (const p of ENGINE_PROPS) it.prop(p.arbs, { numRuns: 300 })(p.name, p.predicate);

  plainIt('every Hyperscan prefilter matches inside every example match of its rule', () => {
    for (const rule of BUILTIN_RULES) {
      if (!rule.prefilter || rule.prefilter.startsWith('native:')) continue;
      const pre = new RE2(rule.prefilter);
      const engine = compileEngine([rule], { native: false });
      for (const example of rule.examples.match) {
        const buf = Buffer.from(example);
        const ms = findMatches(engine, buf, 0, () => true);
        expect(ms.length, `${rule.id}: ${example}`).toBeGreaterThan(0);
        for (const m of ms) expect(pre.test(buf.subarray(m.start, m.end)), `${rule.id} prefilter misses ${JSON.stringify(buf.subarray(m.start, m.end).toString())}`).toBe(true);
      }
    }
  });

  plainIt('finds every rule example with the native prefilters and shapes, one rule at a time and with the whole pack', () => {
    const pack = compileEngine(BUILTIN_RULES);
    for (const rule of BUILTIN_RULES) {
      const one = compileEngine([rule]);
      for (const example of rule.examples.match) {
        expect(findMatches(one, Buffer.from(example), 0, () => true).length, `${rule.id}: ${example}`).toBeGreaterThan(0);
        const ids = findMatches(pack, Buffer.from(example), 0, () => true).map((m) => m.rule.rule.id);
        expect(ids, example).toContain(rule.id);
      }
    }
  });

  plainIt('the secret is the first capture group that took part in the match, in both engines', () => {
    // Two alternatives, each with its own context and its own group: `id=` before, or `!` after.
    const rule = { ...BUILTIN_RULES[0], id: 'two-groups', keywords: [], prefilter: undefined, validate: undefined, pattern: 'id=([0-9]{4})|([0-9]{4})!' };
    const text = Buffer.from('x id=1234 y 5678! z');
    for (const native of [true, false]) {
      const ms = findMatches(compileEngine([rule], { native }), text, 0, () => true);
      expect(ms.map((m) => text.subarray(m.sStart, m.sEnd).toString()), `native: ${native}`).toEqual(['1234', '5678']);
    }
  });
});
