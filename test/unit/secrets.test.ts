import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openSecretSource, Secret, valueNow } from '../../policies/secrets.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-secrets-'));
writeFileSync(join(dir, 'lf.txt'), 'value-lf\n');
writeFileSync(join(dir, 'crlf.txt'), 'value-crlf\r\n');
writeFileSync(join(dir, 'two.txt'), 'value-two\n\n');
writeFileSync(join(dir, 'empty.txt'), '\n');

describe('Secret', () => {
  const secret = new Secret('env:KEY', 'sk-very-secret');
  it.each([
    ['JSON.stringify', () => JSON.stringify({ secret })],
    ['String()', () => String(secret)],
    ['template', () => `${secret}`],
    ['util.inspect', () => inspect({ secret }, { showHidden: true, depth: 5 })],
  ])('%s shows only the name', (_, render) => {
    const text = render();
    expect(text).toContain('[secret:env:KEY]');
    expect(text).not.toContain('sk-very-secret');
  });
  it('reveals the value on request', () => {
    expect(secret.reveal()).toBe('sk-very-secret');
    expect(secret.name).toBe('env:KEY');
  });
});

type Expected = { ok: true; name: string; value: string } | { ok: false; problem: string };

describe('openSecretSource', () => {
  const env = { KEY: 'from-env', EMPTY: '' };
  it.each<[string, Expected]>([
    ['env:KEY', { ok: true, name: 'env:KEY', value: 'from-env' }],
    ['env:MISSING', { ok: false, problem: 'environment variable MISSING is not set' }],
    ['env:EMPTY', { ok: false, problem: 'environment variable EMPTY is not set' }],
    ['file:lf.txt', { ok: true, name: 'file:lf.txt', value: 'value-lf' }],
    ['file:crlf.txt', { ok: true, name: 'file:crlf.txt', value: 'value-crlf' }],
    ['file:two.txt', { ok: true, name: 'file:two.txt', value: 'value-two\n' }],
    [`file:${join(dir, 'lf.txt')}`, { ok: true, name: `file:${join(dir, 'lf.txt')}`, value: 'value-lf' }],
    ['file:missing.txt', { ok: false, problem: `cannot read ${join(dir, 'missing.txt')} (ENOENT)` }],
    ['file:.', { ok: false, problem: `cannot read ${dir} (EISDIR)` }],
    ['file:empty.txt', { ok: false, problem: `${join(dir, 'empty.txt')} is empty` }],
    ['KEY', { ok: false, problem: 'expected "env:NAME", "file:PATH" or "exec:COMMAND"' }],
    ['env:', { ok: false, problem: 'expected "env:NAME", "file:PATH" or "exec:COMMAND"' }],
    ['vault:x', { ok: false, problem: 'expected "env:NAME", "file:PATH" or "exec:COMMAND"' }],
  ])('%s', (source, expected) => {
    const result = openSecretSource(source, env, dir);
    if (expected.ok) {
      expect(result.ok).toBe(true);
      if (result.ok) {
        expect(result.value.name).toBe(expected.name);
        const now = valueNow(result.value);
        expect(now?.ok && now.value.name).toBe(expected.name);
        expect(now?.ok && now.value.reveal()).toBe(expected.value);
      }
    } else {
      expect(result).toEqual({ ok: false, problem: expected.problem });
    }
  });
});
