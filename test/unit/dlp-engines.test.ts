// The native scanner (native/dlp) and the node-re2 engine it replaces where it is built: the native
// one must be built here (CI installs Hyperscan and RE2), find what the portable one finds, and
// honour every prefilter's contract (policies/dlp/prefilters.ts) on the rules' own examples.
import { it } from '@fast-check/vitest';
import { spawnSync } from 'node:child_process';
import RE2 from 're2';
import { describe, expect, it as plainIt } from 'vitest';
import { ENGINE_PROPS } from '../../bench/fuzz-props-dlp.ts';
import { BUILTIN_RULES } from '../../policies/dlp/index.ts';
import { compileEngine, findMatches } from '../../proxy/dlp/engine.ts';
import { nativeAddon, nativeUnavailable } from '../../proxy/dlp/native.ts';
import { type Rules, scanValue } from '../../proxy/dlp/stream.ts';

describe('native DLP scanner', () => {
  plainIt('is built (npm run setup installs libhyperscan-dev and libre2-dev; AIRLOCK_DLP_ENGINE=re2 runs the suite without it)', () => {
    if (process.env.AIRLOCK_DLP_ENGINE === 're2') return;
    expect(nativeUnavailable()).toBeUndefined();
  });

  for (const p of ENGINE_PROPS) it.prop(p.arbs, { numRuns: 300 })(p.name, p.predicate);

  // The scanner picks AVX-512, AVX2 or SSE2 at load (shapes.cc, views.cc); a machine runs only its
  // widest path. This file runs again with each narrower path forced (AIRLOCK_DLP_SIMD caps it),
  // so every path is held to node-re2 by the same properties and sweeps.
  const cap = process.env.AIRLOCK_DLP_SIMD;
  if (cap) {
    plainIt(`runs the ${cap} path`, () => expect(nativeAddon()?.simdLevel()).toBe(cap));
  } else if (nativeAddon() && process.arch === 'x64') {
    for (const narrower of ['avx2', 'sse2']) {
      plainIt(`with the scanner capped at ${narrower}, this file passes too`, { timeout: 120_000 }, () => {
        const r = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--reporter=verbose', 'test/unit/dlp-engines.test.ts'], {
          env: { ...process.env, AIRLOCK_DLP_SIMD: narrower },
          encoding: 'utf8',
        });
        expect(r.status, r.stdout + r.stderr).toBe(0);
        expect(r.stdout).toContain(`runs the ${narrower} path`);
      });
    }
  }

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

  plainIt('finds a secret in base64, JSON-escaped or after a byte that is not UTF-8 at every offset of a 64-byte block, as node-re2 does', () => {
    // The native scanner reads bytes 64 at a time (shapes.cc, views.cc): a base64 segment starting
    // near the end of a block, or a byte that is not ASCII late in one, must not be missed.
    const rules = (engine: ReturnType<typeof compileEngine>): Rules => ({ engine, actions: BUILTIN_RULES.map(() => 'log'), report: false });
    const native = rules(compileEngine(BUILTIN_RULES));
    const portable = rules(compileEngine(BUILTIN_RULES, { native: false }));
    const aws = 'AKIARWWAV5VD7N3IYF7J';
    // base64; a JSON \u escape; a '%' only the JSON view has (`\u0025` for %52, an R); a JSON
    // escape after a byte that is not UTF-8 (binary: not decoded, no finding).
    const forms = [
      Buffer.from(`k=${aws}`).toString('base64'),
      `"\\u0041${aws.slice(1)}"`,
      `"${aws.slice(0, 4)}\\u002552${aws.slice(5)}"`,
      `\xff "\\u0041${aws.slice(1)}"`,
    ];
    for (const [i, form] of forms.entries()) {
      for (let at = 0; at < 192; at++) {
        const text = Buffer.from(`${'. '.repeat(at).slice(0, at)}${form} .`, 'latin1');
        const found = (r: Rules) => scanValue(r, text, 'request body').findings.map((f) => `${f.ruleId}@${f.offset}+${f.length} via ${f.via}`);
        const want = found(portable);
        expect(want.length, `${form} at ${at}`).toBe(i < 3 ? 1 : 0);
        expect(found(native), `${form} at ${at}`).toEqual(want);
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
