// store.retention parsing, and host rules scoped to agents (`agents:`): parsing and decisions.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { decideConnect, decideRequest, type RequestFacts } from '../../policies/decide.ts';
import { parsePolicy } from '../../policies/parse.ts';
import { parseDuration, parseSize } from '../../policies/units.ts';
import type { Config } from '../../policies/types.ts';

const opts = { baseDir: '/etc/airlock', env: {}, defaultDataDir: '/tmp/airlock' };
const base = 'listen: { proxy: 127.0.0.1:8080 }\n';

function ok(yaml: string): Config {
  const r = parsePolicy(parse(yaml), opts);
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.config;
}
const errors = (yaml: string) => {
  const r = parsePolicy(parse(yaml), opts);
  return r.ok ? [] : r.errors;
};

describe('store.retention', () => {
  it('parses durations and sizes', () => {
    expect(parseDuration('90m')).toEqual({ ok: true, ms: 90 * 60_000 });
    expect(parseDuration('12h')).toEqual({ ok: true, ms: 12 * 3_600_000 });
    expect(parseDuration('30d')).toEqual({ ok: true, ms: 30 * 86_400_000 });
    expect(parseDuration('1.5h')).toEqual({ ok: true, ms: 5_400_000 });
    expect(parseDuration('2w')).toEqual({ ok: true, ms: 14 * 86_400_000 });
    for (const bad of ['30', '30 days', 'd', '-1d', '', 30]) expect(parseDuration(bad).ok).toBe(false);
    expect(parseSize('500MiB')).toEqual({ ok: true, bytes: 500 * 1024 ** 2 });
    expect(parseSize('10GiB')).toEqual({ ok: true, bytes: 10 * 1024 ** 3 });
    expect(parseSize('2GB')).toEqual({ ok: true, bytes: 2e9 });
    expect(parseSize('1e9')).toEqual({ ok: true, bytes: 1e9 });
    expect(parseSize(1e9)).toEqual({ ok: true, bytes: 1e9 });
    expect(parseSize('1.5 kib')).toEqual({ ok: true, bytes: 1536 });
    for (const bad of ['10 GiBs', 'lots', '-5MiB', '', true, -1]) expect(parseSize(bad).ok).toBe(false);
  });

  it('defaults to no limits; reads both limits', () => {
    expect(ok(base).store.retention).toEqual({});
    expect(ok(`${base}store: { retention: { max_age: 30d, max_bytes: 10GiB } }`).store.retention).toEqual({
      maxAgeMs: 30 * 86_400_000,
      maxBytes: 10 * 1024 ** 3,
    });
    expect(ok(`${base}store: { retention: { max_bytes: 1e9 } }`).store.retention).toEqual({ maxBytes: 1e9 });
    expect(ok(`${base}store: { retention: }`).store.retention).toEqual({});
  });

  it.each([
    ['not a mapping', 'store: { retention: 30d }', ['store.retention: expected a mapping']],
    ['unknown key', 'store: { retention: { max_ages: 30d } }', ['store.retention.max_ages: unknown key (did you mean "max_age"?)']],
    ['bad duration', 'store: { retention: { max_age: 30 } }', ['store.retention.max_age: expected a duration like "90m", "12h", "30d" (units s, m, h, d, w)']],
    ['duration too short', 'store: { retention: { max_age: 30s } }', ['store.retention.max_age: 30s is shorter than the minimum of 1m']],
    ['bad size', 'store: { retention: { max_bytes: 10 gigs } }', ['store.retention.max_bytes: expected a size like "500MiB", "10GiB", "2GB" or a number of bytes']],
    ['size too small', 'store: { retention: { max_bytes: 100KiB } }', ['store.retention.max_bytes: 100KiB is smaller than the minimum of 1MiB']],
    ['both bad', 'store: { retention: { max_age: soon, max_bytes: -1 } }', [
      'store.retention.max_age: expected a duration like "90m", "12h", "30d" (units s, m, h, d, w)',
      'store.retention.max_bytes: expected a size like "500MiB", "10GiB", "2GB" or a number of bytes',
    ]],
  ])('%s', (_, yaml, expected) => {
    expect(errors(`${base}${yaml}`)).toEqual(expected);
  });
});

describe('hosts[].agents', () => {
  it('reads users and listeners (listeners as printed, unix paths resolved)', () => {
    const c = ok(`${base}hosts:
  - { match: a.test, agents: [alice, "listener:unix:run/a.sock", "listener:127.0.0.1:9000", "listener:[::1]:9001"] }
  - { match: a.test }`);
    expect(c.hosts[0].agents).toEqual(['alice', 'listener:unix:/etc/airlock/run/a.sock', 'listener:127.0.0.1:9000', 'listener:[::1]:9001']);
    expect(c.hosts[1].agents).toBeUndefined();
  });

  it.each([
    ['empty list', '{ match: a.test, agents: [] }', ['hosts[0].agents: must not be empty; leave the key out instead']],
    ['not a list', '{ match: a.test, agents: alice }', ['hosts[0].agents: expected a list']],
    ['bad user', '{ match: a.test, agents: ["al ice", "a:b", 7] }', [
      'hosts[0].agents[0]: expected a Proxy-Authorization user name (printable ASCII without ":" or spaces, up to 128) or "listener:ADDR"',
      'hosts[0].agents[1]: expected a Proxy-Authorization user name (printable ASCII without ":" or spaces, up to 128) or "listener:ADDR"',
      'hosts[0].agents[2]: expected a string',
    ]],
    ['bad listener', '{ match: a.test, agents: ["listener:nowhere"] }', ['hosts[0].agents[0]: listener: expected "HOST:PORT" or "unix:/path"']],
  ])('%s', (_, rule, expected) => {
    expect(errors(`${base}hosts: [${rule}]`)).toEqual(expected);
  });
});

describe('decisions scoped to agents', () => {
  const cfg = ok(`${base}hosts:
  - { name: alice-api, match: api.test, agents: [alice], methods: [GET, POST] }
  - { name: everyone-api, match: api.test, methods: [GET] }
  - { name: bob-only, match: bob.test, agents: [bob] }
  - { name: route-only, match: route.test, agents: ["listener:unix:/run/r.sock"] }`);
  const facts = (host: string, method: string, agent?: RequestFacts['agent']): RequestFacts => ({
    host, port: 443, scheme: 'https', method, path: '/', websocket: false, agent,
  });
  const short = (d: ReturnType<typeof decideConnect>) => (d.allow ? d.rule.id : d.code);

  it('a rule with agents applies only to those agents; others fall back to the remaining rules or default deny', () => {
    expect(short(decideRequest(cfg, facts('api.test', 'POST', { user: 'alice', listener: '127.0.0.1:8080' })))).toBe('alice-api');
    expect(short(decideRequest(cfg, facts('api.test', 'POST', { user: 'bob', listener: '127.0.0.1:8080' })))).toBe('method_not_allowed');
    expect(short(decideRequest(cfg, facts('api.test', 'GET', { user: 'bob' })))).toBe('everyone-api');
    expect(short(decideRequest(cfg, facts('api.test', 'POST')))).toBe('method_not_allowed');
    // Another agent's host does not exist for this one: the denial names no rule.
    const d = decideRequest(cfg, facts('bob.test', 'GET', { user: 'alice' }));
    expect(d).toMatchObject({ allow: false, code: 'host_not_allowed' });
    expect('ruleId' in d).toBe(false);
    expect(short(decideRequest(cfg, facts('bob.test', 'GET', { user: 'bob' })))).toBe('bob-only');
    expect(short(decideConnect(cfg, 'bob.test', 443, { user: 'bob' }))).toBe('bob-only');
    expect(short(decideConnect(cfg, 'bob.test', 443, { user: 'alice' }))).toBe('host_not_allowed');
    expect(short(decideConnect(cfg, 'bob.test', 443))).toBe('host_not_allowed');
  });

  it('listener:ADDR matches the listener the request came in on, whoever the user', () => {
    expect(short(decideRequest(cfg, facts('route.test', 'GET', { listener: 'unix:/run/r.sock' })))).toBe('route-only');
    expect(short(decideRequest(cfg, facts('route.test', 'GET', { user: 'alice', listener: 'unix:/run/r.sock' })))).toBe('route-only');
    expect(short(decideRequest(cfg, facts('route.test', 'GET', { listener: '127.0.0.1:8080' })))).toBe('host_not_allowed');
    // A user named like a listener does not pass for one.
    expect(short(decideConnect(cfg, 'route.test', 443, { user: 'listener:unix:/run/r.sock' }))).toBe('host_not_allowed');
  });
});
