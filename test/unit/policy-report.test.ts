// Report mode, presets (include:), explain_in_tls parsing, and what policy suggest makes of paths.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { decideConnect, decideRequest } from '../../policies/decide.ts';
import { loadPolicyFile } from '../../policies/load.ts';
import { parsePolicy } from '../../policies/parse.ts';
import { PRESET_NAMES, PRESETS } from '../../policies/presets/index.ts';
import { reportThrough } from '../../policies/report.ts';
import { prefixOf } from '../../policies/suggest.ts';
import type { Config } from '../../policies/types.ts';

function policy(yaml: string, env: NodeJS.ProcessEnv = {}): { ok: true; config: Config } | { ok: false; errors: string[] } {
  return parsePolicy(parse(`listen:\n  proxy: 127.0.0.1:0\n${yaml}`), { baseDir: '/tmp', env, defaultDataDir: '/tmp/data' });
}

function config(yaml: string, env: NodeJS.ProcessEnv = {}): Config {
  const r = policy(yaml, env);
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.config;
}

const req = (host: string, method = 'GET', p = '/', port = 443) => ({ host, port, scheme: 'https' as const, method, path: p, websocket: false });

function through(c: Config, r: Parameters<typeof decideRequest>[1]) {
  const d = decideRequest(c, r);
  return d.allow ? 'allowed' : reportThrough(c, d, r.host)?.id ?? `denied:${d.code}`;
}

describe('report mode', () => {
  it('policy-wide: what the host rules deny goes through (the closest rule, or an observing rule without injection)', () => {
    const c = config('mode: report\nhosts:\n  - { name: api, match: api.test, methods: [GET], paths: [/v1/] }\n');
    expect(c.mode).toBe('report');
    expect(through(c, req('api.test', 'GET', '/v1/x'))).toBe('allowed');
    expect(through(c, req('api.test', 'POST', '/v1/x'))).toBe('api');
    expect(through(c, req('api.test', 'GET', '/v2/x'))).toBe('api');
    expect(through(c, req('elsewhere.test'))).toBe('report-mode');
    const observing = reportThrough(c, decideRequest(c, req('elsewhere.test')) as never, 'elsewhere.test')!;
    expect(observing).toMatchObject({ injectHeaders: [], placeholders: [], allowIps: [] });
  });

  it("a rule's credential never goes out in clear text or to another port: such a request stays denied", () => {
    const c = config(
      'mode: report\nhosts:\n  - { name: keyed, match: api.test, inject: { headers: { x-api-key: env:K } } }\n  - { name: plain, match: web.test }\n',
      { K: 'secret-value-1234' },
    );
    const http = { ...req('api.test', 'GET', '/', 80), scheme: 'http' as const };
    expect(through(c, http)).toBe('denied:plain_http_not_allowed');
    expect(through(c, req('api.test', 'GET', '/', 8443))).toBe('denied:port_not_allowed');
    // A rule that adds nothing reports them as would-be denials, as before.
    expect(through(c, { ...req('web.test', 'GET', '/', 80), scheme: 'http' as const })).toBe('plain');
    expect(through(c, req('web.test', 'GET', '/', 8443))).toBe('plain');
    // A path the keyed rule would refuse still goes through it (same host, port and scheme).
    const paths = config('mode: report\nhosts:\n  - { name: keyed, match: api.test, paths: [/v1/], inject: { headers: { x-api-key: env:K } } }\n', { K: 'secret-value-1234' });
    expect(through(paths, req('api.test', 'GET', '/other'))).toBe('keyed');
  });

  it('deny rules and malformed hosts are enforced whatever the mode', () => {
    const c = config('mode: report\nhosts:\n  - { match: api.test }\ndeny:\n  - { name: no-admin, match: "*", paths: [/admin] }\n  - { name: no-x, match: x.test }\n');
    expect(through(c, req('api.test', 'GET', '/admin'))).toBe('denied:request_denied_by_rule');
    expect(through(c, req('x.test'))).toBe('denied:host_denied_by_rule');
    const d = decideConnect(c, 'x.test', 443);
    expect(!d.allow && reportThrough(c, d, 'x.test')).toBe(null);
  });

  it('per rule: only that rule reports; an enforcing rule in a report policy enforces', () => {
    const c = config('hosts:\n  - { name: learn, match: a.test, methods: [GET], mode: report }\n  - { name: strict, match: b.test, methods: [GET] }\n');
    expect(c.mode).toBe('enforce');
    expect(through(c, req('a.test', 'POST'))).toBe('learn');
    expect(through(c, req('b.test', 'POST'))).toBe('denied:method_not_allowed');
    expect(through(c, req('c.test'))).toBe('denied:host_not_allowed');
    const r = config('mode: report\nhosts:\n  - { name: strict, match: b.test, methods: [GET], mode: enforce }\n');
    expect(through(r, req('b.test', 'POST'))).toBe('denied:method_not_allowed');
  });

  it('the observing rule may reach only the address upstream.resolve pins for the host', () => {
    const c = config('mode: report\nupstream:\n  resolve: { pinned.test: 127.0.0.7 }\n');
    const rule = reportThrough(c, decideRequest(c, req('pinned.test')) as never, 'pinned.test')!;
    expect(rule.allowIps.map((x) => x.text)).toEqual(['127.0.0.7']);
    expect(rule.allowIps[0].contains('127.0.0.8')).toBe(false);
  });

  it('mode must be enforce or report', () => {
    expect(policy('mode: learn\n')).toEqual({ ok: false, errors: ['mode: expected "enforce" or "report"'] });
    expect(policy('hosts:\n  - { match: a.test, mode: off }\n')).toEqual({ ok: false, errors: ['hosts[0].mode: expected "enforce" or "report"'] });
  });
});

describe('include: presets', () => {
  it('every preset parses on its own and with agents/mode', () => {
    for (const name of PRESET_NAMES) {
      const c = config(`include: [${name}]\n`);
      expect(c.presets).toEqual([name]);
      expect(c.hosts.map((h) => h.id)).toEqual(PRESETS[name].hosts.map((h) => h.name));
      expect(c.hosts.every((h) => h.preset === name)).toBe(true);
      const scoped = config(`include:\n  - { preset: ${name}, agents: [alice], mode: report }\n`);
      expect(scoped.hosts.every((h) => h.agents?.includes('alice') && h.mode === 'report')).toBe(true);
    }
  });

  it("the policy's own rules come first; a secret is wired to the preset's credential rule with its placeholder", () => {
    const c = config('hosts:\n  - { name: mine, match: api.anthropic.com, paths: [/v1/messages] }\ninclude:\n  - { preset: anthropic-api, secret: env:KEY, placeholder: airlock-ph-anthropic }\n', { KEY: 'sk-ant-real' });
    expect(c.hosts.map((h) => h.id)).toEqual(['mine', 'anthropic-api']);
    expect(c.hosts[1].injectHeaders.map((h) => h.name)).toEqual(['x-api-key']);
    expect(c.hosts[1].placeholders.map((p) => p.value)).toEqual(['airlock-ph-anthropic']);
  });

  it('problems name the include entry', () => {
    const r = policy('include:\n  - npn\n  - { preset: pypi, secret: env:X }\n  - { preset: anthropic-api, secret: env:MISSING }\n  - npm\n  - npm\n  - { agents: [a] }\n');
    expect(r.ok).toBe(false);
    expect((r as { errors: string[] }).errors).toEqual([
      'include[0]: no preset "npn" (did you mean "npm"?); presets: anthropic-api, claude-code, npm, pypi, github',
      'include[1].secret: preset "pypi" takes no credential',
      'include[2].secret: environment variable MISSING is not set',
      'include[4]: preset "npm" is included twice',
      'include[5].preset: required',
    ]);
  });
});

describe('explain_in_tls', () => {
  it('off by default; true or a mapping turns it on; per_minute defaults to 60', () => {
    expect(config('').explainInTls).toEqual({ enabled: false, perMinute: 60 });
    expect(config('explain_in_tls: true\n').explainInTls).toEqual({ enabled: true, perMinute: 60 });
    expect(config('explain_in_tls: { per_minute: 5 }\n').explainInTls).toEqual({ enabled: true, perMinute: 5 });
    expect(policy('explain_in_tls: { per_minute: 0 }\n')).toEqual({ ok: false, errors: ['explain_in_tls.per_minute: expected a whole number of at least 1'] });
  });
});

describe('YAML', () => {
  it('an unquoted "*" value is explained, not a bare alias error', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-yaml-')), 'p.yaml');
    fs.writeFileSync(file, 'listen:\n  proxy: 127.0.0.1:0\nhosts:\n  - match: *.example.com\n');
    const r = loadPolicyFile(file);
    expect(r.ok).toBe(false);
    expect((r as { errors: string[] }).errors[0]).toMatch(/p\.yaml:4: .*alias.*quote it, match: "\*\.example\.com"/);
  });
});

describe('suggest path prefixes', () => {
  it.each([
    ['/v1/messages', '/v1/'],
    ['/api/claude_code/settings', '/api/'],
    ['/health', '/health'],
    ['/', '/'],
    ['/x?y=/z/', '/x'],
  ])('%s -> %s', (p, prefix) => expect(prefixOf(p)).toBe(prefix));
});
