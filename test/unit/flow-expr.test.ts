// Boolean filter expressions: the grammar, its errors, and what they match in a real store.
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterOf, UsageError } from '../../proxy/flow-filter.ts';
import { BodyCapture } from '../../proxy/capture.ts';
import { newFlow } from '../../proxy/flow.ts';
import { parseExpr } from '../../proxy/store/expr.ts';
import { searchFlows } from '../../proxy/store/search.ts';
import { FlowStore } from '../../proxy/store/writer.ts';
import { tempDir } from '../helpers/airlock.ts';

let db: Database.Database;

beforeAll(async () => {
  const file = path.join(tempDir(), 'flows.sqlite');
  const s = new FlowStore(file);
  const add = (host: string | undefined, method: string | undefined, decision: string, extra: Record<string, unknown> = {}, body?: string) => {
    const f = newFlow({ entry: 'explicit', listener: 'l', client: 'c', scheme: 'https', port: 443, host, method, path: method ? '/p' : undefined, decision: decision as never, ...extra });
    if (body) {
      const request = new BodyCapture(4096);
      request.add(Buffer.from(body));
      f.requestHeaders = { 'content-type': 'text/plain' };
      f.bodies = { request, response: new BodyCapture(4096), echo: null };
    }
    s.record(f);
  };
  add('api.github.com', 'GET', 'allow', { status: 200, ruleId: 'gh' }); // 1
  add('raw.github.com', 'POST', 'deny', { status: 403, code: 'method_not_allowed', ruleId: 'gh' }); // 2
  add('api.test', 'POST', 'deny', { status: 403, code: 'dlp_blocked', agentUser: 'alice' }, 'here is my private key'); // 3
  add('api.test', 'GET', 'would_deny', { status: 200, code: 'path_not_allowed' }); // 4
  add(undefined, undefined, 'refuse', { code: 'bad_request', protocol: 'tcp' }); // 5
  await s.close();
  db = new Database(file, { readonly: true });
});

afterAll(() => db?.close());

const ids = (q: string) => searchFlows<{ id: number }>(db, filterOf({ q }, ''), 100, 'id').map((r) => r.id);

describe('filter expressions', () => {
  it.each([
    ['host:*.github.com', [1, 2]],
    ['host:*.github.com and decision:deny', [2]],
    ['host:*.github.com decision:deny', [2]],
    ['decision:deny or decision:would_deny', [2, 3, 4]],
    ['not method:GET', [2, 3, 5]],
    ['-method:GET', [2, 3, 5]],
    ['(host:api.test or host:*.github.com) and not (decision:allow or code:dlp_blocked)', [2, 4]],
    ['text:"private key"', [3]],
    ['"private key" and agent:alice', [3]],
    ['private and key', [3]],
    ['status:4xx', [2, 3]],
    ['status:200 and rule:gh', [1]],
    ['code:bad_request', [5]],
    ['path:/p and not host:api.test', [1, 2]],
    ['HOST:API.TEST AND METHOD:post', [3]],
  ])('%s', (q, expected) => expect(ids(q)).toEqual(expected));

  it.each([
    ['', 'empty expression'],
    ['host:a and', 'a term is missing at the end'],
    ['(host:a', 'expected ")" at the end'],
    ['host:a)', 'unexpected ")" at 7'],
    ['hots:a', 'unknown field "hots" at 1'],
    ['decision:maybe', 'decision: must be one of allow, would_deny, deny, refuse, error'],
    ['status:abc', 'status: must be a status (404) or a class (4xx)'],
    ['text:"open', 'unclosed quote at 6'],
    ['and host:a', 'a term is missing before "and" at 1'],
    ['host:', 'host: needs a value at 1'],
  ])('%j is refused: %s', (q, message) => {
    expect(() => filterOf({ q }, '')).toThrow(UsageError);
    expect(() => filterOf({ q }, '')).toThrow(message);
  });

  it('values are bound, never SQL or FTS syntax; depth and size are bounded', () => {
    expect(ids(`host:"x' OR 1=1 --"`)).toEqual([]);
    expect(ids('text:"NEAR(private key)"')).toEqual([]);
    expect(() => parseExpr('('.repeat(40) + 'a' + ')'.repeat(40))).toThrow(/nested deeper/);
    expect(() => parseExpr(Array.from({ length: 40 }, (_, i) => `w${i}`).join(' '))).toThrow(/more than 32 terms/);
  });
});
