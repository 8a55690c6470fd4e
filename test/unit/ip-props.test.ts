// Property-based checks of IP classification and CIDR blocks (bench/fuzz-props.ts; bench/fuzz.ts runs them 100,000+ times).
import { it } from '@fast-check/vitest';
import { describe } from 'vitest';
import { IP_PROPS } from '../../bench/fuzz-props.ts';

describe('IP addresses (fast-check)', () => {
  for (const p of IP_PROPS) it.prop(p.arbs, { numRuns: 2000 })(p.name, p.predicate);
});

