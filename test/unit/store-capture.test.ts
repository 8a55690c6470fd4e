// Body capture: the cap, decoding of truncated compressed prefixes, bombs, and redaction.
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BodyCapture, decodePrefix, scrubbedCopy } from '../../proxy/capture.ts';
import { EchoSet } from '../../proxy/dlp/echo.ts';

const text = Array.from({ length: 5000 }, (_, i) => `line ${i} of a compressible text body\n`).join('');

describe('BodyCapture', () => {
  it('keeps the first cap bytes and counts the full size', () => {
    const c = new BodyCapture(10);
    for (const s of ['abcd', 'efgh', 'ijkl', 'mnop']) c.add(Buffer.from(s));
    expect(c.size).toBe(16);
    expect(c.truncated).toBe(true);
    expect(c.take().toString()).toBe('abcdefghij');
  });

  it('is not truncated when the body fits exactly', () => {
    const c = new BodyCapture(8);
    c.add(Buffer.from('abcdefgh'));
    expect(c.truncated).toBe(false);
  });
});

describe('decodePrefix', () => {
  for (const [coding, pack] of [
    ['gzip', zlib.gzipSync],
    ['deflate', zlib.deflateSync],
    ['deflate', zlib.deflateRawSync],
    ['br', zlib.brotliCompressSync],
  ] as const) {
    it(`${coding} (${pack.name}): a whole body decodes; a cut prefix still yields its text`, async () => {
      const packed = pack(Buffer.from(text));
      const whole = await decodePrefix(packed, coding, 1 << 20);
      expect(whole).toMatchObject({ capped: false });
      expect(whole!.data.toString()).toBe(text);
      const half = await decodePrefix(packed.subarray(0, Math.floor(packed.length / 2)), coding, 1 << 20);
      expect(half!.data.length).toBeGreaterThan(1000);
      expect(text.startsWith(half!.data.toString())).toBe(true);
    });
  }

  it('stops a decompression bomb at the cap', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(128 * 1024 * 1024)); // ~130 KB that inflates to 128 MiB
    const before = process.memoryUsage().rss;
    const d = await decodePrefix(bomb, 'gzip', 1 << 20);
    expect(d!.data.length).toBe(1 << 20);
    expect(d!.capped).toBe(true);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('resolves null for bytes that are not what the header says', async () => {
    expect(await decodePrefix(Buffer.from('not gzip at all'), 'gzip', 1024)).toBeNull();
  });
});

describe('scrubbedCopy', () => {
  const key = new EchoSet(['sk-live-0123456789abcdef']);
  it('replaces every occurrence, in every form, with a marker of the same length', () => {
    const b64 = Buffer.from('sk-live-0123456789abcdef').toString('base64');
    const out = scrubbedCopy(Buffer.from(`a sk-live-0123456789abcdef b ${b64} c`), key, false, 'all');
    expect(out.toString()).toBe(`a [redacted:injected]***** b [redacted:injected]${'*'.repeat(b64.length - 19)} c`);
  });

  it('replaces a start of the key left at a cut', () => {
    for (const how of ['all', 'raw', 'cut'] as const) {
      expect(scrubbedCopy(Buffer.from('tail sk-live-0123'), key, true, how).toString(), how).toBe('tail ************');
      expect(scrubbedCopy(Buffer.from('tail sk-live-0123'), key, false, how).toString(), how).toBe('tail sk-live-0123');
    }
    // 'raw' (what the agent sent) finds raw copies of every form, not escaped spellings.
    expect(scrubbedCopy(Buffer.from(`x ${Buffer.from('sk-live-0123456789abcdef').toString('hex')} y`), key, false, 'raw').toString()).toMatch(/^x \[redacted:injected\]\** y$/);
  });

  it('records the wire size, not the stored size, when the bytes kept are not the bytes sent', () => {
    const c = new BodyCapture(8);
    let wire = 0;
    c.wire = () => wire;
    for (const s of ['[REDACTED:email-address]', 'abc']) {
      c.add(Buffer.from(s));
      wire += 10;
    }
    expect(c.size).toBe(20);
    expect(c.truncated).toBe(true);
  });
});
