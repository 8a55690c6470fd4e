// Secret-handling properties (bench/fuzz-props-secrets.ts; bench/fuzz.ts runs them 100,000+ times):
// no encoding of the injected key reaches the agent however a response is cut, clean text passes
// unchanged, placeholders are refused however a body is cut or the URL encoded, and the stored
// copy of a value holds no DLP finding whatever the actions.
import { it } from '@fast-check/vitest';
import { describe } from 'vitest';
import { SECRETS_PROPS } from '../../bench/fuzz-props-secrets.ts';

describe('secrets (fast-check)', () => {
  for (const p of SECRETS_PROPS) it.prop(p.arbs, { numRuns: p.name.startsWith('DLP') ? 200 : 1000 })(p.name, p.predicate);
});
