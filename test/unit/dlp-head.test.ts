// The request head through DLP: one joined scan says a clean head is clean; a head with a
// finding is scanned part by part, and each finding names its header and offset.
import { describe, expect, it } from 'vitest';
import { parseDlp } from '../../policies/parse-dlp.ts';
import { Problems } from '../../policies/problems.ts';
import { scanHead } from '../../proxy/dlp/head.ts';
import { rulesFor } from '../../proxy/dlp/policy.ts';

const rules = rulesFor(parseDlp(undefined, new Problems()), 'api.test', '/')!;
const HEADERS: [string, string][] = [
  ['user-agent', 'curl/8.5.0'],
  ['x-request-id', 'req_01HZX8'],
  ['cookie', 'session=abc; theme=dark'],
];

describe('scanHead', () => {
  it('a clean head comes back as it was, with no findings', () => {
    const r = scanHead(rules, '/v1/messages?beta=true', HEADERS, new Set());
    expect(r).toEqual({ findings: [], path: '/v1/messages?beta=true', headers: HEADERS, storedPath: '/v1/messages?beta=true', storedHeaders: HEADERS });
  });

  it('a card in one header is redacted there only; the finding names the header', () => {
    const headers: [string, string][] = [...HEADERS, ['x-note', 'card 4539 1488 0343 6467 thanks']];
    const r = scanHead(rules, '/v1/x', headers, new Set());
    expect(r.findings).toEqual([expect.objectContaining({ ruleId: 'payment-card-number', action: 'redact', location: 'header:x-note', offset: 5 })]);
    expect(r.headers.slice(0, 3)).toEqual(HEADERS);
    expect(r.headers[3][1]).toBe('card [REDACTED:payment-card-number] thanks');
    expect(r.storedHeaders[3][1]).toBe('card [REDACTED:payment-card-number] thanks');
  });

  it('a key in the query blocks; headers airlock overwrites are not scanned', () => {
    const r = scanHead(rules, '/x?id=AKIAQYLPMN5HHHFPZAM2', [['x-api-key', 'AKIAQYLPMN5HHHFPZAM2']], new Set(['x-api-key']));
    expect(r.blocked).toMatchObject({ ruleId: 'aws-access-key-id', location: 'query', offset: 3 });
    expect(r.findings).toHaveLength(1);
  });

  // A cookie is read the way servers read one (RFC 6265): percent-decoded, '+' a '+', never a form.
  const KEY = '27WsOHTFkkVWxMHatVnYPWa+hzGa8TqbJzrUDyPo';

  it("a secret with '+' in a cookie is found once, whole, where it is", () => {
    const r = scanHead(rules, '/v1/x', [['cookie', `theme=dark; aws_secret_access_key=${KEY}; lang=en`]], new Set());
    expect(r.findings).toEqual([
      { ruleId: 'aws-secret-access-key', severity: 'critical', action: 'block', location: 'header:cookie', offset: 34, length: 40, via: '', preview: '27Ws…Po(40)' },
    ]);
    expect(r.storedHeaders[0][1]).toBe('theme=dark; aws_secret_access_key=[REDACTED:aws-secret-access-key]; lang=en');
  });

  it('a percent-encoded cookie value is decoded', () => {
    const r = scanHead(rules, '/v1/x', [['cookie', `aws_secret_access_key=${KEY.replace('+', '%2B')}`]], new Set());
    expect(r.findings).toEqual([expect.objectContaining({ ruleId: 'aws-secret-access-key', offset: 22, length: 42, via: 'url' })]);
  });

  it("a form-looking cookie is not read as a form ('+' is no space there), the same text in the query is", () => {
    const value = 'pay=4166+5605+4256+1019&note=call+%2B1+415+555+0132';
    const r = scanHead(rules, '/v1/x', [['cookie', value]], new Set());
    expect(r).toEqual({ findings: [], path: '/v1/x', headers: [['cookie', value]], storedPath: '/v1/x', storedHeaders: [['cookie', value]] });
    const q = scanHead(rules, `/v1/x?${value}`, [], new Set());
    expect(q.findings.map((f) => [f.ruleId, f.location, f.via])).toEqual([
      ['payment-card-number', 'query', 'url'],
      ['phone-number', 'query', 'url'],
    ]);
  });
});
