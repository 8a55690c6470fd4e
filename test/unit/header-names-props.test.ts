// Header names that alias (bench/fuzz-props-headers.ts; bench/fuzz.ts runs them 100,000+ times).
import { it } from '@fast-check/vitest';
import { describe, expect, it as plainIt } from 'vitest';
import { HEADER_PROPS } from '../../bench/fuzz-props-headers.ts';
import { checkHeaderNames, injectedAliases } from '../../proxy/stages/headers.ts';

describe('header names (fast-check)', () => {
  for (const p of HEADER_PROPS) it.prop(p.arbs, { numRuns: 2000 })(p.name, p.predicate);
});

describe('checkHeaderNames', () => {
  const injected = injectedAliases(['x-api-key', 'x_legacy']);
  plainIt('an injected name written with "_" or "-" the other way round is an alias; the exact name is not', () => {
    expect(checkHeaderNames([['x_api_key', 'a']], injected, 'allow')).toMatchObject({ ok: false, code: 'header_alias' });
    expect(checkHeaderNames([['x-legacy', 'a']], injected, 'allow')).toMatchObject({ ok: false, code: 'header_alias', reason: expect.stringContaining('"x_legacy"') });
    expect(checkHeaderNames([['x-api-key', 'a']], injected, 'reject')).toMatchObject({ ok: true });
    expect(checkHeaderNames([['x_legacy', 'a']], injected, 'reject')).toMatchObject({ ok: true });
  });
  plainIt('drop keeps everything else in order; allow and no underscores return the same list', () => {
    const h: [string, string][] = [['a', '1'], ['b_c', '2'], ['d', '3']];
    expect(checkHeaderNames(h, new Map(), 'drop')).toEqual({ ok: true, headers: [['a', '1'], ['d', '3']] });
    expect(checkHeaderNames(h, new Map(), 'allow')).toEqual({ ok: true, headers: h });
    const none: [string, string][] = [['a', '1']];
    expect((checkHeaderNames(none, injected, 'drop') as { headers: unknown }).headers).toBe(none);
  });
});
