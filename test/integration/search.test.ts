// Full-text search and the new filters of `airlock flows list`, against a real airlock, a real
// upstream and real curl: words are found in URLs, headers and bodies; search syntax in user text
// is only text; the injected key is never findable.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFlows } from '../../proxy/cli/flows.ts';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { run } from '../helpers/run.ts';
import { type TestUpstream, startTlsUpstream } from '../helpers/upstream.ts';

const SECRET = 'sk-search-test-SECRET-77c2d9e1';
/** Appears only in the response of /reverse (the request carries it reversed). */
const RESPONSE_WORD = 'quetzalcoatl';
/** Appears only in one request header (the /bytes response is a run of "a"). */
const HEADER_WORD = 'zebracorn42';
let api: TestUpstream;
let airlock: TestAirlock;
let db: string;
const ids: Record<string, number> = {};

const curl = (...args: string[]) => run('curl', ['-sS', '--cacert', airlock.caCertPath, '-x', airlock.proxyUrl, ...args]);

async function flows(...args: string[]): Promise<{ code: number; out: string; err: string; ids: number[] }> {
  let out = '';
  let err = '';
  const code = await runFlows([...args, '--db', db], { out: (t) => void (out += t), err: (t) => void (err += t) });
  const found = out.trim() ? out.trim().split('\n').map((l) => Number(l.trim().split(/\s+/)[0])) : [];
  return { code, out, err, ids: found };
}

const lastId = () => (airlock.store.db.prepare('SELECT max(id) AS id FROM flows').get() as { id: number }).id;

beforeAll(async () => {
  const dir = tempDir();
  const { ip, pki, up: started } = await startTlsUpstream(dir, ['api.test', 'other.test']);
  api = started;
  airlock = await startTestAirlock(
    `
listen:
  proxy: 127.0.0.1:0
upstream:
  ca_files: [${pki.caCert}]
  resolve: { api.test: ${ip}, other.test: ${ip} }
hosts:
  - name: api
    match: api.test
    inject: { headers: { x-api-key: env:SEARCH_TEST_KEY } }
  - name: other
    match: other.test
`,
    { SEARCH_TEST_KEY: SECRET },
    dir,
  );
  db = airlock.config.store.path;
  const reversed = [...RESPONSE_WORD].reverse().join('');
  await curl('-H', 'content-type: text/plain', '--data', `${reversed} says hi`, 'https://api.test/reverse');
  await airlock.store.flush();
  ids.apiReverse = lastId();
  await curl('-o', '/dev/null', '-H', `x-trace: ${HEADER_WORD}`, 'https://api.test/bytes?n=10');
  await airlock.store.flush();
  ids.header = lastId();
  await curl('-H', 'content-type: text/plain', '--data', `${reversed} again`, 'https://other.test/reverse');
  await airlock.store.flush();
  ids.otherReverse = lastId();
  await curl('-H', 'content-type: application/json', '--data', '{"hello":"world"}', 'https://api.test/echo');
  await curl('https://denied.test/x');
  await airlock.store.flush();
});

afterAll(async () => {
  await airlock?.close();
  await api?.close();
});

describe('airlock flows list --text', () => {
  it('finds a word that is only in a response body', async () => {
    const r = await flows('list', '--text', RESPONSE_WORD, '--host', 'api.test');
    expect(r).toMatchObject({ code: 0, err: '', ids: [ids.apiReverse] });
    expect((await flows('list', '--text', RESPONSE_WORD)).ids).toEqual([ids.apiReverse, ids.otherReverse]);
    // The request body held the word reversed: that is a different word.
    expect((await flows('list', '--text', [...RESPONSE_WORD].reverse().join(''))).ids).toEqual([ids.apiReverse, ids.otherReverse]);
  });

  it('finds a word that is only in a request header', async () => {
    expect((await flows('list', '--text', HEADER_WORD)).ids).toEqual([ids.header]);
    expect((await flows('list', '--text', `x-trace ${HEADER_WORD.toUpperCase()}`)).ids).toEqual([ids.header]);
  });

  it('finds words of the URL, all words required', async () => {
    expect((await flows('list', '--text', 'bytes n=10')).ids).toEqual([ids.header]);
    expect((await flows('list', '--text', `${RESPONSE_WORD} ${HEADER_WORD}`)).ids).toEqual([]);
  });

  it('SQL and FTS syntax in the text is only text: no error, no unrelated flow', async () => {
    // Each would be an operator, a column filter, a prefix query or a syntax error as FTS5 or SQL.
    const header = () => [ids.header];
    const evil: [string, () => number[]][] = [
      [`" OR 1=1 --`, () => []],
      [`${HEADER_WORD} OR ${RESPONSE_WORD}`, () => []], // OR is a word: nothing holds all three
      ['NEAR(a b)', () => []],
      [`NEAR(${HEADER_WORD} bytes)`, () => []], // "near zebracorn42" is not a phrase anywhere
      ['*', () => []],
      ['zebracorn*', () => []], // no prefix query: the token "zebracorn" is not indexed
      ['col:val', () => []],
      ['url:api', () => []],
      ['"unbalanced', () => []],
      [`${HEADER_WORD}"`, header],
      [`"${HEADER_WORD}`, header],
      ["x' OR '1'='1", () => []],
      ['"); DROP TABLE flows; --', () => []],
      [`^${HEADER_WORD}`, header], // not "first token of a column"
      ['a AND NOT b', () => []],
      [`{url headers}: ${HEADER_WORD}`, () => []], // as FTS5: a column filter that would match
      ['', () => []],
      ['   ', () => []],
    ];
    for (const [text, expected] of evil) {
      const r = await flows('list', '--text', text);
      expect(r.code, text).toBe(0);
      expect(r.err, text).toBe('');
      expect(r.ids, text).toEqual(expected());
    }
    expect((await flows('list')).ids.length).toBe(5); // the table is still there
  });

  it('combines with the other filters and pages with --after', async () => {
    expect((await flows('list', '--text', RESPONSE_WORD, '--rule', 'other')).ids).toEqual([ids.otherReverse]);
    expect((await flows('list', '--text', RESPONSE_WORD, '--method', 'GET')).ids).toEqual([]);
    expect((await flows('list', '--text', RESPONSE_WORD, '--status', '2xx', '--since', '1h')).ids).toEqual([ids.apiReverse, ids.otherReverse]);
    expect((await flows('list', '--text', RESPONSE_WORD, '--path', '/rev')).ids).toEqual([ids.apiReverse, ids.otherReverse]);
    expect((await flows('list', '--text', RESPONSE_WORD, '--path', '/rev*')).ids).toEqual([]);
    expect((await flows('list', '--text', RESPONSE_WORD, '--path', '/bytes')).ids).toEqual([]);
    expect((await flows('list', '--text', RESPONSE_WORD, '--agent', 'nobody')).ids).toEqual([]);
    expect((await flows('list', '--text', RESPONSE_WORD, '--until', '2000-01-01T00:00:00Z')).ids).toEqual([]);

    const first = await flows('list', '--text', RESPONSE_WORD, '--after', '0', '--limit', '1');
    expect(first.ids).toEqual([ids.apiReverse]);
    expect(first.err).toBe(`more: --after ${ids.apiReverse}\n`);
    expect((await flows('list', '--text', RESPONSE_WORD, '--after', String(ids.apiReverse), '--limit', '1')).ids).toEqual([ids.otherReverse]);

    let out = '';
    await runFlows(['export', '--format', 'jsonl', '--text', HEADER_WORD, '--db', db], { out: (t) => void (out += t), err: () => {} });
    expect(out.trim().split('\n').map((l) => JSON.parse(l).id)).toEqual([ids.header]);
  });

  it('junk filter values exit 2 with the flag named, never a lenient guess', async () => {
    const cases: [string[], RegExp][] = [
      [['--since', 'junk 2001'], /--since: "junk 2001" is not an ISO time/], // Date.parse: 2001-01-01, every flow
      [['--until', '2025-02-30'], /--until: /],
      [['--status', '6xx'], /--status must be/],
      [['--decision', 'Allow'], /--decision must be one of/],
      [['--method', 'G;T'], /--method must be an HTTP method/],
      [['--after', '1.5'], /--after must be a whole number/],
      [['--limit', '0'], /--limit must be a whole number/],
    ];
    for (const [args, message] of cases) {
      for (const sub of ['list', 'export']) {
        const r = await flows(sub, ...args, ...(sub === 'export' ? ['--format', 'jsonl'] : []));
        expect(r.code, `${sub} ${args.join(' ')}`).toBe(2);
        expect(r.err, `${sub} ${args.join(' ')}`).toMatch(message);
        expect(r.out).toBe('');
      }
    }
  });

  it('--has-finding keeps flows with a DLP finding', async () => {
    airlock.store.db.prepare("INSERT INTO findings (flow_id, rule_id, location, action, preview) VALUES (?, 'test', 'request.header', 'log', '')").run(ids.header);
    expect((await flows('list', '--has-finding')).ids).toEqual([ids.header]);
    expect((await flows('list', '--has-finding', '--text', HEADER_WORD)).ids).toEqual([ids.header]);
    expect((await flows('list', '--has-finding', '--text', RESPONSE_WORD)).ids).toEqual([]);
  });

  it('the injected key is not findable: it is never stored', async () => {
    const echo = await flows('list', '--text', 'redacted injected');
    expect(echo.ids.length).toBe(1); // the echoed key, stored as [redacted:injected]
    for (const text of [SECRET, 'sk-search-test-SECRET', '77c2d9e1', 'SECRET']) {
      expect((await flows('list', '--text', text)).ids, text).toEqual([]);
    }
  });
});
