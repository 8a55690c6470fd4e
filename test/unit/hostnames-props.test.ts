// Property-based checks of host normalisation and matching (bench/fuzz-props.ts; bench/fuzz.ts runs them 100,000+ times).
import { it } from '@fast-check/vitest';
import { describe } from 'vitest';
import { HOST_PROPS } from '../../bench/fuzz-props.ts';

describe('host names (fast-check)', () => {
  for (const p of HOST_PROPS) it.prop(p.arbs, { numRuns: 2000 })(p.name, p.predicate);
});

