// The injected-credential scrubber (proxy/dlp/echo.ts), the placeholder tripwire and check: the
// cases the properties (bench/fuzz-props-secrets.ts) do not name one by one.
import { describe, expect, it } from 'vitest';
import { credentialValues, echoForms } from '../../proxy/dlp/echo-forms.ts';
import { EchoScrubber, EchoSet, scrubEchoes } from '../../proxy/dlp/echo.ts';
import { Tripwire } from '../../proxy/dlp/tripwire.ts';
import { checkPlaceholders } from '../../proxy/stages/credentials.ts';

const KEY = 'sk-live-0123456789abcdefXYZ';
const set = new EchoSet([KEY]);
const scrub = (text: string, cut = false) => scrubEchoes(set, Buffer.from(text, 'latin1'), cut).out.toString('latin1');

describe('forms of a credential', () => {
  it('base64 at each alignment keeps only the characters that depend on the key alone', () => {
    const forms = echoForms(Buffer.from(KEY)).map((f) => f.toString('latin1'));
    for (const pad of ['', 'x', 'xy']) {
      const b64 = Buffer.from(`${pad}${KEY}tail`).toString('base64');
      expect(forms.some((f) => b64.includes(f) && f.length >= (KEY.length * 4) / 3 - 3), pad).toBe(true);
    }
  });

  it('an Authorization-style value also yields its token, and Basic its user:password and password', () => {
    expect(credentialValues('Bearer abcdefghijklmnop')).toEqual(['Bearer abcdefghijklmnop', 'abcdefghijklmnop']);
    const basic = `Basic ${Buffer.from('robot:s3cret-passw0rd').toString('base64')}`;
    expect(credentialValues(basic)).toEqual([basic, Buffer.from('robot:s3cret-passw0rd').toString('base64'), 'robot:s3cret-passw0rd', 's3cret-passw0rd']);
    expect(credentialValues('Bearer short')).toEqual(['Bearer short']); // a token under 8 characters is not scrubbed alone
  });
});

describe('EchoSet', () => {
  it('keeps the length: the marker is padded with * or cut to *', () => {
    expect(scrub(`a ${KEY} b`)).toBe(`a [redacted:injected]${'*'.repeat(KEY.length - 19)} b`);
    expect(new EchoSet(['abcdefgh']).scrub(Buffer.from('xabcdefghx'), true).out.toString()).toBe('x********x');
  });

  it('reads escapes in any case and mixed, and line breaks between characters', () => {
    const hex = Buffer.from(KEY).toString('hex');
    for (const text of [
      encodeURIComponent(KEY).replace(/k/g, '%6B'),
      KEY.replace(/i/g, '\\u0069').replace(/-/g, '\\x2d'),
      KEY.replace(/e/g, '&#101;').replace(/l/g, '&#x6C;'),
      `${hex.slice(0, 20)}\r\n  ${hex.slice(20)}`,
      `${hex.slice(0, 20)}\\n${hex.slice(20)}`,
      `${hex.slice(0, 20)}%0A${hex.slice(20)}`,
    ]) {
      expect(scrub(`<${text}>`), text).toMatch(/^<\[redacted:injected\]\**>$/);
    }
  });

  it('scrubs a copy cut off at the end of a text that was cut short, from 6 characters on', () => {
    expect(scrub(`x ${KEY.slice(0, 6)}`, true)).toBe('x ******');
    expect(scrub(`x ${KEY.slice(0, 5)}`, true)).toBe(`x ${KEY.slice(0, 5)}`);
    expect(scrub(`x ${KEY.slice(0, 6)}`, false)).toBe(`x ${KEY.slice(0, 6)}`);
  });

  it('a stream holds back only what could still become a copy', () => {
    const s = new EchoScrubber(set);
    expect(s.push(Buffer.from('data: hello\n\n')).toString()).toBe('data: hello\n\n'); // nothing held: SSE is not delayed
    expect(s.push(Buffer.from(`x ${KEY.slice(0, 10)}`)).toString()).toBe('x ');
    expect(s.push(Buffer.from('%')).toString()).toBe('');
    expect(s.push(Buffer.from(`${Buffer.from(KEY.slice(10, 11)).toString('hex')}${KEY.slice(11)} y`)).toString()).toMatch(/^\[redacted:injected\]\** y$/);
    expect(s.end().toString()).toBe('');
  });

  it('a line ending in the first characters of a copy is not held (SSE, logs): the rest is scrubbed in the next chunk', () => {
    const hex = Buffer.from(KEY).toString('hex');
    const s = new EchoScrubber(set);
    expect(s.push(Buffer.from(`x ${hex.slice(0, 3)}\r\n`)).toString()).toBe(`x ${hex.slice(0, 3)}\r\n`);
    expect(s.push(Buffer.from(`${hex.slice(3)} y`)).toString()).toMatch(/^\[redacted:injected\]\** y$/);
    // From 4 characters on, the beginning is held: too much of the key to let go.
    const t = new EchoScrubber(set);
    expect(t.push(Buffer.from(`x ${hex.slice(0, 4)}\n`)).toString()).toBe('x ');
    expect(t.push(Buffer.from(`${hex.slice(4)} y`)).toString()).toMatch(/^\[redacted:injected\]\** y$/);
  });
});

describe('placeholders', () => {
  const foreign = [{ value: 'airlock-placeholder-one', bytes: Buffer.from('airlock-placeholder-one'), host: 'owner.test' }];

  it('are found percent-encoded, once or twice; a % that survives decoding ends the check (it used to loop)', () => {
    expect(checkPlaceholders(foreign, '/?k=%61irlock-placeholder%2Done', [])).toEqual({ ok: false, placeholderOf: 'owner.test' });
    expect(checkPlaceholders(foreign, '/', [['x', 'a%2561irlock-placeholder-one']])).toEqual({ ok: false, placeholderOf: 'owner.test' });
    expect(checkPlaceholders(foreign, '/?a=%2525%25zz%', [['x', '%%%25']])).toEqual({ ok: true });
  });

  it('the tripwire holds back only a possible start of a value, and finds one split anywhere', () => {
    const t = new Tripwire(foreign.map((p) => p.bytes));
    expect(t.push(Buffer.from('abc airlock-place'))).toEqual({ out: Buffer.from('abc ') });
    expect(t.push(Buffer.from('holder-on'))).toEqual({ out: Buffer.alloc(0) });
    expect(t.push(Buffer.from('e!'))).toEqual({ hit: 0 });
    const u = new Tripwire(foreign.map((p) => p.bytes));
    expect(u.push(Buffer.from('airlock-pl'))).toEqual({ out: Buffer.alloc(0) });
    expect(u.push(Buffer.from('ain text'))).toEqual({ out: Buffer.from('airlock-plain text') });
  });
});
