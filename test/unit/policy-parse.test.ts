import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadPolicyFile } from '../../policies/load.ts';
import { parsePolicy } from '../../policies/parse.ts';
import { type SecretSource, valueNow } from '../../policies/secrets.ts';
import type { Config } from '../../policies/types.ts';

const dir = resolve('test/fixtures/policies');
const fixture = (name: string) => resolve(dir, name);
const env = { ANTHROPIC_API_KEY: 'sk-ant-real-key', ONE: 'one-secret-value', TWO: 'two-secret-value' };
const FILE_SECRET = 'sk-file-secret-value';
const TLD = '"*.com" would allow a whole top-level domain';
const ONE_SECRET = "a placeholder stands for the rule's injected secret, so the rule must inject exactly one secret";

/** A source's value as read now (env: and file: are at hand). */
function now(source: SecretSource): string | undefined {
  const got = valueNow(source);
  return got?.ok ? got.value.reveal() : undefined;
}

function load(name: string): Config {
  const result = loadPolicyFile(fixture(name), { env, defaultDataDir: '/tmp/airlock-default' });
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.config;
}

describe('loadPolicyFile: broken fixtures list every problem', () => {
  it.each([
    [
      'broken-many.yaml',
      [
        'data_dir: expected a string',
        'listen.extra: unknown key',
        'listen.proxy: expected "HOST:PORT" or "unix:/path"',
        'listen.transparent: port must be a number from 1 to 65535',
        'routes[0].upstream: expected an http(s) URL like "https://api.example.com"',
        'routes[1].upstream: must not contain user info; inject credentials with a hosts rule',
        'routes[2].listen: required',
        'routes[1].listen: 127.0.0.1:7000 is already used by routes[0].listen',
        `upstream.ca_files[0]: cannot read ${dir}/missing.pem (ENOENT)`,
        `upstream.ca_files[1]: ${dir}/not-a-cert.pem contains no PEM CERTIFICATE block`,
        'upstream.dns_servers[0]: expected "IP" or "IP:PORT"',
        'upstream.resolve.api.example.test: not an IP address',
        'upstream.resolve.bad host: host name contains " "',
        'upstream.connect_timeout_ms: expected a whole number of at least 1',
        'upstream.response_timeout_ms: expected a whole number of at least 1',
        'ca.name_constraints: expected true or false',
        'ca.cache_size: expected a whole number of at least 1',
        'store.path: must not be empty',
        'hosts[0].inject.headers.bad header: not a valid HTTP header name',
        'hosts[0].inject.headers.bad header: environment variable OTHER is not set',
        'hosts[0].inject.headers.host: "host" is set by the proxy and cannot be injected',
        `hosts[0].inject.headers.host: cannot read ${dir}/nope.txt (ENOENT)`,
        'hosts[0].placeholder: must be at least 8 characters',
        `hosts[0].placeholder: ${ONE_SECRET} (it injects 3: env:ANTHROPIC_API_KEY, env:OTHER, file:nope.txt)`,
        'hosts[1].name: "anthropic" is already used by hosts[0]',
        'hosts[1].match: "api.*.com": "*" is only allowed as the whole first label, as in "*.example.com"',
        'hosts[1].ports[0]: expected a port number from 1 to 65535',
        'hosts[1].ports[2]: expected a port number from 1 to 65535',
        'hosts[1].methods[0]: "FETCH" is not an HTTP method',
        'hosts[1].paths[0]: must start with "/"',
        'hosts[1].paths[1]: must not contain "?" or "#"',
        'hosts[1].paths[2]: must not contain "." or ".." segments',
        'hosts[2].match: "*" would allow every host',
        'hosts[2].allow_ips[0]: not an IP address or CIDR block',
        'hosts[2].allow_ips[1]: not an IP address or CIDR block',
        'hosts[2].plain_http: expected true or false',
        'hosts[2].websocket: expected true or false',
        'hosts[2].allow_range: expected true or false',
        'hosts[3].mathc: unknown key (did you mean "match"?)',
        'hosts[3].match: required',
        `hosts[3].placeholder: ${ONE_SECRET} (it injects 0)`,
        `hosts[4].match: ${TLD}`,
        'hosts[4].methods: expected a list',
        'hosts[4].inject.header: unknown key (did you mean "headers"?)',
        'hosts[5]: expected a mapping',
      ],
    ],
    ['unknown-top.yaml', ['host: unknown key (did you mean "hosts"?)', 'upstreams: unknown key (did you mean "upstream"?)']],
    [
      'duplicate-listeners.yaml',
      [
        'listen.transparent: 0.0.0.0:8080 overlaps listen.proxy (127.0.0.1:8080)',
        'routes[1].listen: unix:/tmp/airlock-test.sock is already used by routes[0].listen',
        'routes[2].upstream: no hosts rule allows plain HTTP to api.example.com on port 80',
      ],
    ],
    [
      'placeholders.yaml',
      [
        `hosts[0].placeholder: ${ONE_SECRET} (it injects 2: env:ONE, env:TWO)`,
        `hosts[1].placeholder: ${ONE_SECRET} (it injects 0)`,
        'hosts[2].placeholder[1]: "placeholder-a" is already used by hosts[0].placeholder',
        'hosts[2].placeholder[2]: "placeholder-c" is already used by hosts[2].placeholder[0]',
        'hosts[3].placeholder: must not be the secret itself',
      ],
    ],
    ['empty.yaml', ['listen: nothing to listen on; set listen.proxy, listen.transparent or routes']],
  ])('%s', (name, expected) => {
    expect(loadPolicyFile(fixture(name), { env })).toEqual({ ok: false, errors: expected });
  });

  it('reports YAML syntax errors as file:line:col', () => {
    const path = 'test/fixtures/policies/syntax-error.yaml';
    expect(loadPolicyFile(path, { env })).toEqual({
      ok: false,
      errors: [
        `${path}:4:1: Flow sequence in block collection must be sufficiently indented and end with a ]`,
        `${path}:4:1: Map keys must be unique`,
      ],
    });
  });

  it('reports an unreadable file as one error naming the path', () => {
    const path = 'test/fixtures/policies/does-not-exist.yaml';
    expect(loadPolicyFile(path)).toEqual({ ok: false, errors: [`${path}: cannot read policy file (ENOENT)`] });
  });
});

describe('parsePolicy: single problems', () => {
  const opts = { baseDir: dir, env, defaultDataDir: '/tmp/airlock-default' };
  const base = 'listen: { proxy: 127.0.0.1:8080 }\n';
  it.each([
    ['root is a list', '- a\n', ['policy: expected a mapping']],
    ['hosts not a list', `${base}hosts: { match: a.example }`, ['hosts: expected a list']],
    ['listen without port', 'listen: { proxy: "[::1]" }', ['listen.proxy: expected "HOST:PORT" or "unix:/path"']],
    ['listen unix empty', 'listen: { proxy: "unix:" }', ['listen.proxy: expected "HOST:PORT" or "unix:/path"']],
    ['listen unix too long', `listen: { proxy: "unix:/${'s'.repeat(120)}" }`, [`listen.proxy: unix socket path /${'s'.repeat(120)} is longer than 107 bytes`]],
    ['listen wildcard v6 overlap', 'listen: { proxy: "[::]:8080", transparent: "127.0.0.1:8080" }', ['listen.transparent: 127.0.0.1:8080 overlaps listen.proxy ([::]:8080)']],
    ['route query', 'routes: [{ listen: 127.0.0.1:9000, upstream: "https://a.example/v1?k=1" }]\nhosts: [{ match: a.example }]', ['routes[0].upstream: must not contain a query or fragment']],
    ['route fragment', 'routes: [{ listen: 127.0.0.1:9000, upstream: "https://a.example/#x" }]\nhosts: [{ match: a.example }]', ['routes[0].upstream: must not contain a query or fragment']],
    ['route not allowed', 'routes: [{ listen: 127.0.0.1:9000, upstream: "https://a.example:8443" }]\nhosts: [{ match: a.example }]', ['routes[0].upstream: no hosts rule allows a.example on port 8443']],
    ['route unknown key', 'routes: [{ listen: 127.0.0.1:9000, upstrem: "https://a.example" }]', ['routes[0].upstrem: unknown key (did you mean "upstream"?)', 'routes[0].upstream: required']],
    ['wildcard tld', `${base}hosts: [{ match: "*.com" }]`, [`hosts[0].match: ${TLD}`]],
    ['wildcard suffix', `${base}hosts: [{ match: "api*.example.com" }]`, ['hosts[0].match: "api*.example.com": "*" is only allowed as the whole first label, as in "*.example.com"']],
    ['wildcard ip', `${base}hosts: [{ match: "*.0.0.1" }]`, ['hosts[0].match: not a valid IPv4 address']],
    ['bad match', `${base}hosts: [{ match: "http://a.example/" }]`, ['hosts[0].match: write only the host name, not a URL']],
    ['match with port', `${base}hosts: [{ match: "a.example:443" }]`, ['hosts[0].match: host name contains ":"; put the port in "ports"']],
    ['match bad v6', `${base}hosts: [{ match: "[::zz]" }]`, ['hosts[0].match: not a valid IPv6 address']],
    ['match number', `${base}hosts: [{ match: 42 }]`, ['hosts[0].match: expected a string']],
    ['empty ports', `${base}hosts: [{ match: a.example, ports: [] }]`, ['hosts[0].ports: must not be empty; leave the key out instead']],
    ['method lower FETCH', `${base}hosts: [{ match: a.example, methods: [fetch] }]`, ['hosts[0].methods[0]: "fetch" is not an HTTP method']],
    ['bad name', `${base}hosts: [{ name: "my rule", match: a.example }]`, ['hosts[0].name: use up to 64 letters, digits, ".", "_" or "-"']],
    ['inject not mapping', `${base}hosts: [{ match: a.example, inject: [x] }]`, ['hosts[0].inject: expected a mapping']],
    ['inject value not string', `${base}hosts: [{ match: a.example, inject: { headers: { x-key: 1 } } }]`, ['hosts[0].inject.headers.x-key: expected "env:NAME", "file:PATH" or "exec:COMMAND"']],
    ['inject bare value', `${base}hosts: [{ match: a.example, inject: { headers: { x-key: sk-literal } } }]`, ['hosts[0].inject.headers.x-key: expected "env:NAME", "file:PATH" or "exec:COMMAND"']],
    ['inject duplicate header', `${base}hosts: [{ match: a.example, inject: { headers: { X-Key: env:ONE, x-key: env:ONE } } }]`, ['hosts[0].inject.headers.x-key: duplicate header name (header names are case-insensitive)']],
    ['missing env', `${base}hosts: [{ match: api.anthropic.com, inject: { headers: { x-api-key: env:NOT_SET_ANYWHERE } } }]`, ['hosts[0].inject.headers.x-api-key: environment variable NOT_SET_ANYWHERE is not set']],
    ['placeholder not ascii', `${base}hosts: [{ match: a.example, inject: { headers: { x-key: env:ONE } }, placeholder: "has spaces in it" }]`, ['hosts[0].placeholder: must be printable ASCII without spaces']],
    ['placeholder empty list', `${base}hosts: [{ match: a.example, inject: { headers: { x-key: env:ONE } }, placeholder: [] }]`, ['hosts[0].placeholder: must not be empty; leave the key out instead']],
    ['resolve not IP', `${base}upstream: { resolve: { api.example.test: api.other.test } }`, ['upstream.resolve.api.example.test: not an IP address']],
    ['resolve twice', `${base}upstream: { resolve: { a.example: 10.0.0.1, A.example.: 10.0.0.2 } }`, ['upstream.resolve.A.example.: a.example is listed twice']],
    ['dns bad port', `${base}upstream: { dns_servers: ["[::1]:70000", "1.1.1.1:0"] }`, ['upstream.dns_servers[0]: expected "IP" or "IP:PORT"', 'upstream.dns_servers[1]: expected "IP" or "IP:PORT"']],
    ['ca_files not list', `${base}upstream: { ca_files: roots.pem }`, ['upstream.ca_files: expected a list']],
    ['bad ca cert', `${base}upstream: { ca_files: [broken-cert.pem] }`, [`upstream.ca_files[0]: ${dir}/broken-cert.pem contains a CERTIFICATE block that is not a valid certificate`]],
    ['section not mapping', `${base}ca: true\nstore: [x]`, ['ca: expected a mapping', 'store: expected a mapping']],
    ['timeout float', `${base}upstream: { idle_timeout_ms: 1.5 }`, ['upstream.idle_timeout_ms: expected a whole number of at least 1']],
  ])('%s', (_, yaml, expected) => {
    const result = parsePolicy(parse(yaml), opts);
    if (expected.length === 0) expect(result.ok).toBe(true);
    else expect(result).toEqual({ ok: false, errors: expected });
  });
});

describe('valid-full.yaml', () => {
  const config = load('valid-full.yaml');

  it('maps every key', () => {
    expect(config.sourcePath).toBe(fixture('valid-full.yaml'));
    expect(config.dataDir).toBe(fixture('state'));
    expect(config.listen).toEqual({ proxy: { kind: 'tcp', host: '127.0.0.1', port: 8080 }, transparent: { kind: 'tcp', host: '::1', port: 8443 } });
    expect(config.routes.map((r) => [r.index, r.listen, r.upstream.href])).toEqual([
      [0, { kind: 'unix', path: fixture('run/anthropic.sock') }, 'https://api.anthropic.com/'],
      [1, { kind: 'tcp', host: '127.0.0.1', port: 9000 }, 'http://api.example.test:8081/base'],
    ]);
    expect(config.upstream.caFiles).toEqual([fixture('extra-roots.pem')]);
    expect([...config.upstream.resolve]).toEqual([['api.example.test', '127.0.0.1']]);
    expect(config.upstream.dnsServers).toEqual(['127.0.0.1:5353', '::1', '[::1]:53']);
    expect([config.upstream.connectTimeoutMs, config.upstream.responseTimeoutMs, config.upstream.idleTimeoutMs]).toEqual([5000, 30000, 120000]);
    expect(config.ca).toEqual({ nameConstraints: true, cacheSize: 50 });
    expect(config.store.path).toBe(fixture('state/audit/flows.sqlite'));
  });

  it('builds host rules', () => {
    const [anthropic, github, example, v6] = config.hosts;
    expect(config.hosts.map((h) => [h.index, h.id, h.match])).toEqual([
      [0, 'anthropic', 'api.anthropic.com'],
      [1, 'github', '*.github.com'],
      [2, 'hosts[2]', 'api.example.test'],
      [3, 'hosts[3]', '::1'],
    ]);
    expect([anthropic.ports, anthropic.methods, anthropic.paths, anthropic.plainHttp, anthropic.websocket]).toEqual([[443], ['GET', 'POST'], ['/v1/'], false, true]);
    expect(anthropic.injectHeaders.map((h) => [h.name, h.secret.name, now(h.secret)])).toEqual([['x-api-key', 'env:ANTHROPIC_API_KEY', env.ANTHROPIC_API_KEY]]);
    expect(anthropic.placeholders.map((p) => p.value)).toEqual(['airlock-placeholder-anthropic']);
    expect(anthropic.placeholders[0].secret).toBe(anthropic.injectHeaders[0].secret);
    expect(now(github.injectHeaders[0].secret)).toBe(FILE_SECRET);
    expect(github.placeholders.map((p) => p.value)).toEqual(['ghp_placeholder_1', 'ghp_placeholder_2']);
    expect([github.ports, github.methods, github.paths, github.websocket]).toEqual([undefined, undefined, undefined, false]);
    expect(example.allowIps.map((c) => c.text)).toEqual(['198.18.0.0/15', '::1', '127.0.0.1']);
    expect(example.allowIps[2].contains('127.0.0.1')).toBe(true);
    expect(v6.allowIps).toEqual([]);
  });

  it('explains each rule in plain words', () => {
    expect(config.hosts.map((h) => h.explain)).toEqual([
      'allows GET, POST to api.anthropic.com on port 443 under /v1/; injects x-api-key; replaces a placeholder with env:ANTHROPIC_API_KEY',
      'allows any method to *.github.com on port 443; no WebSocket; injects authorization; replaces 2 placeholders with file:api-key.txt',
      'allows any method to api.example.test on port 8081; plain HTTP too; may reach 198.18.0.0/15, ::1, 127.0.0.1',
      'allows any method to ::1 on port 443',
    ]);
  });

  it('never serialises a secret value', () => {
    const json = JSON.stringify(config);
    expect(json).not.toContain(env.ANTHROPIC_API_KEY);
    expect(json).not.toContain(FILE_SECRET);
    expect(json).toContain('[secret:env:ANTHROPIC_API_KEY]');
  });

  it('is frozen', () => {
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.hosts[0])).toBe(true);
    expect(Object.isFrozen(config.hosts[0].methods)).toBe(true);
    expect(Object.isFrozen(config.hosts[2].allowIps[0])).toBe(true);
    expect(() => (config.hosts as unknown as unknown[]).push({})).toThrow(TypeError);
  });
});

describe('defaults', () => {
  it('deny-all policy: empty hosts, default timeouts and paths', () => {
    const config = load('deny-all.yaml');
    expect(config.hosts).toEqual([]);
    expect(config.dataDir).toBe('/tmp/airlock-default');
    expect(config.store.path).toBe('/tmp/airlock-default/flows.sqlite');
    expect(config.upstream).toEqual({ caFiles: [], resolve: new Map(), dnsServers: [], connectTimeoutMs: 10000, responseTimeoutMs: 60000, idleTimeoutMs: 300000 });
    expect(config.ca).toEqual({ nameConstraints: false, cacheSize: 1000 });
    expect(config.routes).toEqual([]);
  });

  it('an in-memory policy has no sourcePath', () => {
    const result = parsePolicy({ listen: { proxy: 'unix:/tmp/x.sock' } }, { baseDir: dir, env, defaultDataDir: 'rel' });
    expect(result.ok && result.config.sourcePath).toBe(undefined);
    expect(result.ok && result.config.dataDir).toBe(resolve('rel'));
  });
});
