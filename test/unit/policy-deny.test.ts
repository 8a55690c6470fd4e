// Deny rules (`deny:`): they win over every allow rule whatever the order, at connection time
// when they name a whole host and per request when they name methods or paths; paths compare
// however they are spelled. Problems name their path.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { decideConnect, decideRequest, type RequestFacts } from '../../policies/decide.ts';
import { canonicalPath } from '../../policies/deny.ts';
import { parsePolicy } from '../../policies/parse.ts';
import type { Config } from '../../policies/types.ts';

const POLICY = `
listen: { proxy: 127.0.0.1:8080 }
deny:
  - name: no-admin
    match: admin.example.com
  - match: "*.internal.example.com"
    ports: [443]
  - name: no-deletes
    match: "*.example.com"
    methods: [DELETE]
  - name: no-keys
    match: api.example.com
    paths: [/v1/Keys, /admin/]
  - name: nowhere-dotenv
    match: "*"
    paths: [/.env]
  - match: "*.zip"
  - name: alice-no-billing
    match: api.example.com
    paths: [/billing]
    agents: [alice]
hosts:
  - name: everything
    match: "*.example.com"
    ports: [443, 8443]
  - name: admin-too
    match: admin.example.com
`;

function load(text: string): ReturnType<typeof parsePolicy> {
  return parsePolicy(parse(text), { baseDir: '/tmp', env: {}, defaultDataDir: '/tmp/airlock' });
}
function config(text = POLICY): Config {
  const r = load(text);
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.config;
}
const cfg = config();
const req = (over: Partial<RequestFacts>): RequestFacts => ({ host: 'api.example.com', port: 443, scheme: 'https', method: 'GET', path: '/', websocket: false, ...over });
const outcome = (d: ReturnType<typeof decideRequest>) => (d.allow ? `allow ${d.rule.id}` : `${d.code} ${d.ruleId}`);

describe('deny rules at connection time (CONNECT, SNI)', () => {
  it('a host-wide deny beats a wildcard allow and an exact allow, in any spelling of the name', () => {
    for (const h of ['admin.example.com', 'ADMIN.Example.com.', 'Admin.EXAMPLE.COM']) {
      const d = decideConnect(cfg, h, 443);
      expect(d).toMatchObject({ allow: false, code: 'host_denied_by_rule', ruleId: 'no-admin', reason: 'host is denied by a deny rule' });
      expect(!d.allow && d.hint).toMatch(/deny rule no-admin/);
    }
    expect(outcome(decideConnect(cfg, 'api.example.com', 443))).toBe('allow everything');
  });

  it('a wildcard deny with ports denies those ports only; an unnamed rule is deny[N]', () => {
    expect(outcome(decideConnect(cfg, 'db.internal.example.com', 443))).toBe('host_denied_by_rule deny[1]');
    expect(outcome(decideConnect(cfg, 'db.internal.example.com', 8443))).toBe('allow everything');
  });

  it('deny rules with methods or paths do not refuse the connection: they are decided per request', () => {
    expect(outcome(decideConnect(cfg, 'api.example.com', 443))).toBe('allow everything');
  });
});

describe('deny rules per request', () => {
  it('a host-wide deny is host_denied_by_rule per request too', () => {
    expect(outcome(decideRequest(cfg, req({ host: 'admin.example.com' })))).toBe('host_denied_by_rule no-admin');
  });

  it('methods: compared whatever their case', () => {
    expect(outcome(decideRequest(cfg, req({ method: 'DELETE' })))).toBe('request_denied_by_rule no-deletes');
    expect(outcome(decideRequest(cfg, req({ method: 'delete' })))).toBe('request_denied_by_rule no-deletes');
    expect(outcome(decideRequest(cfg, req({ method: 'POST' })))).toBe('allow everything');
  });

  it.each([
    '/v1/keys',
    '/v1/keys/abc?x=1',
    '/V1/KEYS',
    '/v1//keys',
    '//v1/keys',
    '/v1/./keys',
    '/v1/x/../keys',
    '/other/../v1/keys',
    '/v1/%6beys',
    '/v1/%6Beys',
    '/v1%2fkeys',
    '/v1%252fkeys',
    '/v1\\keys',
    '/v1;x=1/keys',
    '/;a/v1/keys',
    '/v1/keys;jsessionid=1',
    '/%2e%2e/v1/keys',
    '/admin/',
    '/admin/../admin/x',
    '/ADMIN/x',
  ])('a denied path spelled %s is still denied', (path) => {
    expect(outcome(decideRequest(cfg, req({ path })))).toBe('request_denied_by_rule no-keys');
  });

  it.each(['/v1/messages', '/v1/key', '/admin', '/v1/messages?next=/v1/keys', '/x/v1/keys'])('%s is not denied', (path) => {
    expect(outcome(decideRequest(cfg, req({ path })))).toBe('allow everything');
  });

  it('"*" and a whole top-level domain are fine in a deny rule', () => {
    expect(outcome(decideRequest(cfg, req({ host: 'x.example.com', path: '/.ENV' })))).toBe('request_denied_by_rule nowhere-dotenv');
    expect(outcome(decideConnect(cfg, 'files.zip', 443))).toBe('host_denied_by_rule deny[5]');
  });

  it('agents: a scoped deny rule applies only to the agents it names', () => {
    expect(outcome(decideRequest(cfg, req({ path: '/billing/x', agent: { user: 'alice' } })))).toBe('request_denied_by_rule alice-no-billing');
    expect(outcome(decideRequest(cfg, req({ path: '/billing/x', agent: { user: 'bob' } })))).toBe('allow everything');
  });

  it('the order of rules does not matter: a deny list after the hosts, or before, gives the same decisions', () => {
    const swapped = config(POLICY.replace(/deny:[\s\S]*?(?=hosts:)/, '') + POLICY.match(/deny:[\s\S]*?(?=hosts:)/)![0]);
    for (const r of [req({ host: 'admin.example.com' }), req({ path: '/v1/keys' }), req({ method: 'DELETE' }), req({})]) {
      expect(outcome(decideRequest(swapped, r))).toBe(outcome(decideRequest(cfg, r)));
    }
  });
});

describe('canonicalPath', () => {
  it.each([
    ['/', '/'],
    ['', '/'],
    ['/a/b/', '/a/b/'],
    ['/a/b/..', '/a/'],
    ['/a/./b', '/a/b'],
    ['/../../a', '/a'],
    ['/A%2Fb', '/a/b'],
    ['/a?b/../c', '/a'],
    ['/a;x/b;y', '/a/b'],
  ])('%s -> %s', (from, to) => expect(canonicalPath(from)).toBe(to));
});

describe('deny: validation', () => {
  it('problems name their path', () => {
    const r = load(`
listen: { proxy: 127.0.0.1:8080 }
hosts:
  - { name: a, match: a.example.com }
deny:
  - { match: "a.*.com" }
  - { match: x.example.com, paths: [nope], methods: [FETCH], ports: [0], agents: ["a b"], color: red }
  - { name: a, match: b.example.com }
  - { paths: [/x] }
  - just-a-string
`);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors).toEqual([
      'deny[0].match: "a.*.com": "*" is only allowed as the whole first label, as in "*.example.com"',
      'deny[1].color: unknown key',
      'deny[1].agents[0]: expected a Proxy-Authorization user name (printable ASCII without ":" or spaces, up to 128) or "listener:ADDR"',
      'deny[1].ports[0]: expected a port number from 1 to 65535',
      'deny[1].methods[0]: "FETCH" is not an HTTP method',
      'deny[1].paths[0]: must start with "/"',
      'deny[2].name: "a" is already used by hosts[0]',
      'deny[3].match: required',
      'deny[4]: expected a mapping',
    ]);
  });

  it('deny must be a list', () => {
    const r = load('listen: { proxy: 127.0.0.1:8080 }\ndeny: { match: a.example.com }\n');
    expect(!r.ok && r.errors).toEqual(['deny: expected a list']);
  });

  it('a route whose upstream a deny rule refuses outright is a configuration error', () => {
    const r = load(`
listen: { proxy: 127.0.0.1:8080 }
routes: [{ listen: 127.0.0.1:9000, upstream: https://admin.example.com }]
hosts: [{ match: "*.example.com" }]
deny: [{ name: no-admin, match: admin.example.com }]
`);
    expect(!r.ok && r.errors).toEqual(['routes[0].upstream: admin.example.com on port 443 is denied by deny[0] (no-admin)']);
  });

  it('explains each deny rule in plain words', () => {
    expect(cfg.deny.map((d) => d.explain)).toEqual([
      'denies every method to admin.example.com on every port, whatever the allow rules say',
      'denies every method to *.internal.example.com on port 443, whatever the allow rules say',
      'denies DELETE to *.example.com on every port, whatever the allow rules say',
      'denies every method to api.example.com on every port under /v1/keys, /admin/ (any spelling), whatever the allow rules say',
      'denies every method to * on every port under /.env (any spelling), whatever the allow rules say',
      'denies every method to *.zip on every port, whatever the allow rules say',
      'denies every method to api.example.com on every port under /billing (any spelling) for alice only, whatever the allow rules say',
    ]);
  });
});
