// Property-based checks of flow search with untrusted filters (bench/fuzz-props.ts; bench/fuzz.ts runs them 100,000+ times).
import { it } from '@fast-check/vitest';
import { describe } from 'vitest';
import { FILTER_PROPS, SEARCH_PROPS } from '../../bench/fuzz-props-search.ts';

describe('flow search (fast-check)', () => {
  for (const p of SEARCH_PROPS) it.prop(p.arbs, { numRuns: 2000 })(p.name, p.predicate);
});

describe('flow filter input (fast-check)', () => {
  for (const p of FILTER_PROPS) it.prop(p.arbs, { numRuns: 2000 })(p.name, p.predicate);
});

