// DLP scanner and redactor properties over the built-in pack (bench/fuzz-props-dlp.ts; bench/fuzz.ts
// runs them 100,000+ times): chunking does not change findings, redaction leaves no match, a
// block releases nothing from the secret on, and no input makes the scanner throw.
import { it } from '@fast-check/vitest';
import { it as plainIt } from 'vitest';
import { describe, expect } from 'vitest';
import { DLP_PROPS } from '../../bench/fuzz-props-dlp.ts';

describe('DLP scanner (fast-check, built-in pack)', () => {
  for (const p of DLP_PROPS) it.prop(p.arbs, { numRuns: 300 })(p.name, p.predicate);
});

describe('found by the 100,000-run fuzz bench', () => {
  plainIt('two secrets sharing the delimiter between them are both found (the match after a secret does not eat it)', async () => {
    const { BUILTIN_RULES } = await import('../../policies/dlp/index.ts');
    const { compileEngine } = await import('../../proxy/dlp/engine.ts');
    const { StreamScanner } = await import('../../proxy/dlp/stream.ts');
    const s = new StreamScanner({ engine: compileEngine(BUILTIN_RULES), actions: BUILTIN_RULES.map(() => 'redact'), report: false }, 'request body');
    const line = '_auth = Y2ktYm90OmNJa2h1RWNTckhzMjltYWE5WHYw';
    const out = s.prime(Buffer.from(`${line} ${line}`)).end()!.toString();
    expect(s.findings.map((f) => f.ruleId)).toEqual(['npmrc-auth-token', 'npmrc-auth-token']);
    expect(out).toBe('_auth = [REDACTED:npmrc-auth-token] _auth = [REDACTED:npmrc-auth-token]');
  });
});

describe('found by the fuzz bench, too', () => {
  plainIt('a match that starts within 11 bytes of the end does not throw (the BEGIN-line check read past the buffer)', async () => {
    const { BUILTIN_RULES } = await import('../../policies/dlp/index.ts');
    const { compileEngine } = await import('../../proxy/dlp/engine.ts');
    const { StreamScanner } = await import('../../proxy/dlp/stream.ts');
    const s = new StreamScanner({ engine: compileEngine(BUILTIN_RULES), actions: BUILTIN_RULES.map(() => 'log'), report: false }, 'request body');
    expect(() => s.prime(Buffer.from('+100')).end()).not.toThrow();
  });
});

describe('found by the fuzz bench, third', () => {
  plainIt('a key block cut off before its END line is judged on its own bytes, not on the text it runs into', async () => {
    const { BUILTIN_RULES } = await import('../../policies/dlp/index.ts');
    const { compileEngine } = await import('../../proxy/dlp/engine.ts');
    const { HOLD, StreamScanner } = await import('../../proxy/dlp/stream.ts');
    const key = BUILTIN_RULES.find((r) => r.id === 'private-key-rsa')!.examples.match[3]; // no END line
    const s = new StreamScanner({ engine: compileEngine(BUILTIN_RULES), actions: BUILTIN_RULES.map(() => 'log'), report: false }, 'request body');
    s.prime(Buffer.from(`${key} ${'x'.repeat(HOLD)}`)).end();
    expect(s.findings.map((f) => f.ruleId)).toContain('private-key-rsa');
  });
});
