// Property-based checks of the policy parser and of deny rules (bench/fuzz-props-policy.ts;
// bench/fuzz.ts runs them 100,000+ times).
import { it } from '@fast-check/vitest';
import { describe } from 'vitest';
import { DENY_PROPS, POLICY_PROPS } from '../../bench/fuzz-props-policy.ts';

describe('policy parser (fast-check)', () => {
  for (const p of POLICY_PROPS) it.prop(p.arbs, { numRuns: 2000 })(p.name, p.predicate);
});

describe('deny rules (fast-check)', () => {
  for (const p of DENY_PROPS) it.prop(p.arbs, { numRuns: 2000 })(p.name, p.predicate);
});
