// The `limits:` policy section: defaults, units, ranges, and problems named by path.
import { fc, it } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { DEFAULT_LIMITS, parseLimits } from '../../policies/parse-limits.ts';
import { Problems } from '../../policies/problems.ts';

const parse = (v: unknown) => {
  const p = new Problems();
  return { limits: parseLimits(v, p), problems: p.list };
};

describe('limits', () => {
  it('defaults when absent', () => {
    expect(parse(undefined)).toEqual({ limits: DEFAULT_LIMITS, problems: [] });
    expect(DEFAULT_LIMITS).toMatchObject({ maxHeaderBytes: 32768, maxHeaders: 100, maxUrlBytes: 8192, headerTimeoutMs: 10_000, tlsHandshakeTimeoutMs: 10_000, bodyTimeoutMs: 60_000 });
  });

  it('reads sizes and durations with units', () => {
    const r = parse({ max_header_bytes: '16KiB', header_timeout: '2s', tls_handshake_timeout: '3s', idle_timeout: '2m', max_connections_per_client: 10 });
    expect(r.problems).toEqual([]);
    expect(r.limits).toMatchObject({ maxHeaderBytes: 16384, headerTimeoutMs: 2000, tlsHandshakeTimeoutMs: 3000, idleTimeoutMs: 120_000, maxConnectionsPerClient: 10 });
    expect(parse({ tls_handshake_timeout: '0s' }).problems).toEqual(['limits.tls_handshake_timeout: 0s is out of range (1s to 10m)']);
  });

  it('names every problem by its path', () => {
    expect(parse({ max_headers: 0, header_timeout: '5', max_header_bytes: '9GiB', body_timeot: '1s', max_url_bytes: 'x' }).problems).toEqual([
      'limits.body_timeot: unknown key (did you mean "body_timeout"?)',
      'limits.max_header_bytes: 9GiB is out of range (1KiB to 1MiB)',
      'limits.max_headers: 0 is out of range (8 to 10000)',
      'limits.max_url_bytes: expected a size like "500MiB", "10GiB", "2GB" or a number of bytes',
      'limits.header_timeout: expected a duration like "90m", "12h", "30d" (units s, m, h, d, w)',
    ]);
    expect(parse([1]).problems).toEqual(['limits: expected a mapping']);
  });

  it('request bodies and header names: deadline, minimum rate, chunk extensions, underscores', () => {
    expect(DEFAULT_LIMITS).toMatchObject({
      requestTimeoutMs: 30 * 60_000,
      minBodyRate: 1024,
      minBodyRateWindowMs: 10_000,
      maxChunkExtensionBytes: 16 * 1024,
      headersWithUnderscores: 'reject',
    });
    const r = parse({ request_timeout: '45m', min_body_rate: '4KiB', min_body_rate_window: '30s', max_chunk_extension_bytes: '1KiB', headers_with_underscores: 'drop' });
    expect(r.problems).toEqual([]);
    expect(r.limits).toMatchObject({ requestTimeoutMs: 2_700_000, minBodyRate: 4096, minBodyRateWindowMs: 30_000, maxChunkExtensionBytes: 1024, headersWithUnderscores: 'drop' });
    expect(parse({ min_body_rate: 0 }).limits.minBodyRate).toBe(0); // off
    expect(parse({ request_timeout: '500ms', min_body_rate_window: '1h', max_chunk_extension_bytes: 10, headers_with_underscores: 'Drop' }).problems).toEqual([
      'limits.headers_with_underscores: expected one of allow, drop, reject',
      'limits.request_timeout: expected a duration like "90m", "12h", "30d" (units s, m, h, d, w)',
      'limits.min_body_rate_window: 1h is out of range (1s to 10m)',
      'limits.max_chunk_extension_bytes: 10 is out of range (1KiB to 1GiB)',
    ]);
  });

  it.prop([fc.dictionary(fc.constantFrom('max_header_bytes', 'max_headers', 'header_timeout', 'idle_timeout', 'request_timeout', 'min_body_rate', 'headers_with_underscores', 'nope'), fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constantFrom('allow', 'drop', 'reject')))], { numRuns: 2000 })(
    'never throws; a value is either taken within its range or refused with limits.KEY',
    (v) => {
      const r = parse(v);
      for (const e of r.problems) expect(e).toMatch(/^limits\.[a-z_]+: ./);
      expect(r.limits.maxHeaderBytes).toBeGreaterThanOrEqual(1024);
      expect(r.limits.maxHeaders).toBeGreaterThanOrEqual(8);
      expect(r.limits.headerTimeoutMs).toBeGreaterThanOrEqual(1000);
      expect(r.limits.requestTimeoutMs).toBeGreaterThanOrEqual(1000);
      expect(['allow', 'drop', 'reject']).toContain(r.limits.headersWithUnderscores);
    },
  );
});
