// Property-based checks of the ClientHello peek (SNI, ALPN, records) (bench/fuzz-props.ts; bench/fuzz.ts runs them 100,000+ times).
import { it } from '@fast-check/vitest';
import { describe } from 'vitest';
import { HELLO_PROPS } from '../../bench/fuzz-props.ts';

describe('TLS ClientHello (fast-check)', () => {
  for (const p of HELLO_PROPS) it.prop(p.arbs, { numRuns: 2000 })(p.name, p.predicate);
});

