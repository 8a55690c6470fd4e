// Property-based checks of upstream response framing (bench/fuzz-props.ts; bench/fuzz.ts runs them 100,000+ times).
import { it } from '@fast-check/vitest';
import { describe } from 'vitest';
import { FRAMING_PROPS } from '../../bench/fuzz-props.ts';

describe('upstream response framing (fast-check)', () => {
  for (const p of FRAMING_PROPS) it.prop(p.arbs, { numRuns: 2000 })(p.name, p.predicate);
});

