// Flow filters from untrusted text are validated, not guessed: each bad value is a UsageError
// that names its field (the CLI's --flag, the API's and the UI's parameter).
import { describe, expect, it } from 'vitest';
import { filterOf, parseTime, positiveInt, UsageError } from '../../proxy/flow-filter.ts';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

describe('parseTime', () => {
  it.each([
    ['30s', NOW - 30_000],
    ['15m', NOW - 900_000],
    ['1h', NOW - 3_600_000],
    ['2d', NOW - 2 * 86_400_000],
    ['1w', NOW - 604_800_000],
    ['2025-01-31', Date.UTC(2025, 0, 31)],
    ['2025-01-31T12:00:00Z', Date.UTC(2025, 0, 31, 12)],
    ['2025-01-31T12:00:00.250Z', Date.UTC(2025, 0, 31, 12, 0, 0, 250)],
    ['2025-01-31T12:00+02:00', Date.UTC(2025, 0, 31, 10)],
    ['2025-01-31 12:00:00Z', Date.UTC(2025, 0, 31, 12)],
    ['2024-02-29', Date.UTC(2024, 1, 29)],
  ])('%s', (text, ms) => expect(parseTime(text, 'since', NOW)).toBe(ms));

  it.each([
    'junk 2001', // Date.parse reads this as 2001-01-01
    '1',
    '2001',
    'yesterday',
    'now',
    '2025-02-30', // Date.parse rolls this over to March 2
    '2023-02-29',
    '2025-13-01',
    '2025-1-5',
    '2025-01-31T24:00',
    '2025-01-31T12:60',
    '2025-01-31T12:00:00+25:00',
    '2025-01-31T12:00:00 GMT',
    'Fri, 31 Jan 2025 12:00:00 GMT',
    '1h ago',
    '-1h',
    '1.5h',
    '1y',
    '9999999999h',
    '',
  ])('%j is refused, naming the field', (text) => {
    expect(() => parseTime(text, '--until', NOW)).toThrow(UsageError);
    expect(() => parseTime(text, '--until', NOW)).toThrow(/^--until: /);
  });
});

describe('filterOf', () => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ since: 'junk 2001' }, /^since: "junk 2001" is not an ISO time/],
    [{ until: '2025-02-30' }, /^until: /],
    [{ status: 'abc' }, /^status must be/],
    [{ status: '600' }, /^status must be/],
    [{ status: '99' }, /^status must be/],
    [{ status: '6xx' }, /^status must be/],
    [{ status: '4XX ' }, /^status must be/],
    [{ decision: 'ALLOW' }, /^decision must be one of allow, would_deny, deny, refuse, error/],
    [{ decision: 'maybe' }, /^decision must be one of/],
    [{ method: "GET' OR 'a'='a" }, /^method must be an HTTP method/],
    [{ method: 'G E T' }, /^method must be/],
    [{ after: '-1' }, /^after must be a whole number/],
    [{ after: '1e3' }, /^after must be a whole number/],
    [{ after: '0x10' }, /^after must be a whole number/],
    [{ after: '99999999999999999' }, /^after must be a whole number/],
    [{ host: 'a'.repeat(501) }, /^host must be at most 500 characters/],
    [{ text: 'w '.repeat(300) }, /^text must be at most 500 characters/],
  ];
  it.each(bad)('%j', (o, message) => {
    expect(() => filterOf(o, '')).toThrow(message);
  });

  it('names the CLI flag in the CLI', () => {
    expect(() => filterOf({ since: 'junk' })).toThrow(/^--since: /);
    expect(() => filterOf({ status: 'x' })).toThrow(/^--status /);
  });

  it('good values make the filter', () => {
    expect(filterOf({ status: '4xx', method: 'post', decision: 'deny', after: '10', host: '*.test', since: '2025-01-31' }, '')).toEqual({
      statusClass: 4,
      method: 'post',
      decision: 'deny',
      after: 10,
      host: '*.test',
      since: Date.UTC(2025, 0, 31),
    });
    expect(filterOf({ status: '404' }).status).toBe(404);
  });
});

describe('positiveInt', () => {
  it('takes digits only, within bounds', () => {
    expect(positiveInt('50', 'limit', 1, 500)).toBe(50);
    for (const t of ['0', '501', '', ' 5', '5 ', '+5', '5.0', '1e2']) expect(() => positiveInt(t, 'limit', 1, 500), t).toThrow(/^limit must be a whole number from 1 to 500$/);
  });
});
