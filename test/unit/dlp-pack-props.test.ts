// DLP scanner and redactor properties over the built-in pack (bench/fuzz-props-dlp.ts; bench/fuzz.ts
// runs them 100,000+ times): chunking does not change findings, redaction leaves no match, a
// block releases nothing from the secret on, and no input makes the scanner throw.
import { it } from '@fast-check/vitest';
import { describe } from 'vitest';
import { DLP_PROPS } from '../../bench/fuzz-props-dlp.ts';

describe('DLP scanner (fast-check, built-in pack)', () => {
  for (const p of DLP_PROPS) it.prop(p.arbs, { numRuns: 300 })(p.name, p.predicate);
});
