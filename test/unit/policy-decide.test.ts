import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { decideConnect, decideRequest, type RequestFacts } from '../../policies/decide.ts';
import { parsePolicy } from '../../policies/parse.ts';
import type { Config, Decision } from '../../policies/types.ts';

const POLICY = `
listen: { proxy: 127.0.0.1:8080 }
hosts:
  - name: anthropic-read
    match: api.anthropic.com
    methods: [GET]
  - name: anthropic-messages
    match: api.anthropic.com
    methods: [POST]
    paths: [/v1/messages]
    websocket: false
  - name: github
    match: "*.github.com"
    ports: [443, 8443]
    paths: [/repos/, /user]
  - name: plain
    match: plain.example.test
    plain_http: true
  - name: v6
    match: "[::1]"
    ports: [9000]
`;

function config(): Config {
  const result = parsePolicy(parse(POLICY), { baseDir: '/tmp', env: {}, defaultDataDir: '/tmp/airlock' });
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.config;
}
const cfg = config();

const HINTS = {
  host: "airlock's policy does not allow this host. Do not retry; ask the operator to add it to the policy.",
};

/** Allowed decisions compare by rule id; denials by code, reason and rule id. */
function summary(d: Decision): unknown {
  return d.allow ? { allow: true, ruleId: d.rule.id } : { code: d.code, reason: d.reason, ruleId: d.ruleId };
}

describe('decideConnect', () => {
  it.each([
    ['api.anthropic.com', 443, { allow: true, ruleId: 'anthropic-read' }],
    ['API.Anthropic.COM.', 443, { allow: true, ruleId: 'anthropic-read' }],
    ['api.anthropic.com', 80, { code: 'port_not_allowed', reason: 'port is not allowed for this host', ruleId: 'anthropic-read' }],
    ['api.github.com', 8443, { allow: true, ruleId: 'github' }],
    ['github.com', 443, { code: 'host_not_allowed', reason: 'host is not in the policy', ruleId: undefined }],
    ['plain.example.test', 80, { allow: true, ruleId: 'plain' }],
    ['plain.example.test', 443, { allow: true, ruleId: 'plain' }],
    ['[::1]', 9000, { allow: true, ruleId: 'v6' }],
    ['0:0::1', 9000, { allow: true, ruleId: 'v6' }],
    ['127.0.0.1', 9000, { code: 'host_not_allowed', reason: 'host is not in the policy', ruleId: undefined }],
    ['evil.test', 443, { code: 'host_not_allowed', reason: 'host is not in the policy', ruleId: undefined }],
    ['bad host', 443, { code: 'bad_request', reason: 'request is malformed', ruleId: undefined }],
  ])('%s:%d', (host, port, expected) => {
    expect(summary(decideConnect(cfg, host, port))).toEqual(expected);
  });

  it('tells the agent not to retry an unknown host', () => {
    expect(decideConnect(cfg, 'evil.test', 443)).toEqual({
      allow: false,
      code: 'host_not_allowed',
      reason: 'host is not in the policy',
      hint: HINTS.host,
    });
  });

  it('denies everything with an empty hosts list', () => {
    const empty = parsePolicy({ listen: { proxy: '127.0.0.1:8080' } }, { baseDir: '/tmp', env: {}, defaultDataDir: '/tmp/a' });
    expect(empty.ok && summary(decideConnect(empty.config, 'api.anthropic.com', 443))).toEqual({
      code: 'host_not_allowed',
      reason: 'host is not in the policy',
      ruleId: undefined,
    });
  });
});

const req = (over: Partial<RequestFacts>): RequestFacts => ({
  host: 'api.anthropic.com',
  port: 443,
  scheme: 'https',
  method: 'GET',
  path: '/',
  websocket: false,
  ...over,
});

describe('decideRequest', () => {
  it.each([
    ['GET anything', req({ path: '/v1/models' }), { allow: true, ruleId: 'anthropic-read' }],
    ['POST messages', req({ method: 'POST', path: '/v1/messages' }), { allow: true, ruleId: 'anthropic-messages' }],
    ['POST messages with query', req({ method: 'POST', path: '/v1/messages?beta=true' }), { allow: true, ruleId: 'anthropic-messages' }],
    ['POST under the prefix', req({ method: 'POST', path: '/v1/messages/batches' }), { allow: true, ruleId: 'anthropic-messages' }],
    ['POST elsewhere', req({ method: 'POST', path: '/v1/files' }), { code: 'path_not_allowed', reason: 'path is not allowed for this host', ruleId: 'anthropic-messages' }],
    ['POST via dot segments', req({ method: 'POST', path: '/v1/messages/../files' }), { code: 'path_not_allowed', reason: 'path is not allowed for this host', ruleId: 'anthropic-messages' }],
    ['POST via encoded dots', req({ method: 'POST', path: '/v1/messages/%2E%2e/files' }), { code: 'path_not_allowed', reason: 'path is not allowed for this host', ruleId: 'anthropic-messages' }],
    ['POST with query outside path', req({ method: 'POST', path: '/v1/files?x=/v1/messages' }), { code: 'path_not_allowed', reason: 'path is not allowed for this host', ruleId: 'anthropic-messages' }],
    ['DELETE', req({ method: 'DELETE', path: '/v1/messages' }), { code: 'method_not_allowed', reason: 'method is not allowed for this host', ruleId: 'anthropic-read' }],
    ['lower-case get is not GET', req({ method: 'get' }), { code: 'method_not_allowed', reason: 'method is not allowed for this host', ruleId: 'anthropic-read' }],
    ['plain http', req({ scheme: 'http', port: 80 }), { code: 'plain_http_not_allowed', reason: 'plain HTTP is not allowed for this host; use https', ruleId: 'anthropic-read' }],
    ['other port', req({ port: 8443 }), { code: 'port_not_allowed', reason: 'port is not allowed for this host', ruleId: 'anthropic-read' }],
    ['websocket on GET rule', req({ websocket: true }), { allow: true, ruleId: 'anthropic-read' }],
    ['websocket POST on no-websocket rule', req({ method: 'POST', path: '/v1/messages', websocket: true }), { code: 'websocket_not_allowed', reason: 'WebSocket is not allowed for this host', ruleId: 'anthropic-messages' }],
    ['unknown host', req({ host: 'example.com' }), { code: 'host_not_allowed', reason: 'host is not in the policy', ruleId: undefined }],
    ['wildcard path allowed', req({ host: 'api.github.com', path: '/repos/a/b' }), { allow: true, ruleId: 'github' }],
    ['wildcard exact path', req({ host: 'api.github.com', path: '/user' }), { allow: true, ruleId: 'github' }],
    ['wildcard path denied', req({ host: 'api.github.com', path: '/orgs/x' }), { code: 'path_not_allowed', reason: 'path is not allowed for this host', ruleId: 'github' }],
    ['wildcard apex', req({ host: 'github.com', path: '/repos/' }), { code: 'host_not_allowed', reason: 'host is not in the policy', ruleId: undefined }],
    ['plain http allowed', req({ host: 'plain.example.test', scheme: 'http', port: 80, method: 'PUT' }), { allow: true, ruleId: 'plain' }],
    ['plain rule on https', req({ host: 'plain.example.test' }), { allow: true, ruleId: 'plain' }],
    ['plain rule other port', req({ host: 'plain.example.test', scheme: 'http', port: 8080 }), { code: 'port_not_allowed', reason: 'port is not allowed for this host', ruleId: 'plain' }],
    ['IPv6 literal', req({ host: '[::1]', port: 9000 }), { allow: true, ruleId: 'v6' }],
    ['bad host', req({ host: 'a b' }), { code: 'bad_request', reason: 'request is malformed', ruleId: undefined }],
  ])('%s', (_, facts, expected) => {
    expect(summary(decideRequest(cfg, facts))).toEqual(expected);
  });

  it.each([
    [req({ host: 'example.com' }), HINTS.host],
    [req({ scheme: 'http', port: 80 }), "airlock's policy requires https for this host. Send the same request to the https:// URL instead."],
    [req({ port: 8443 }), "airlock's policy allows this host only on port 443. Do not retry on this port; ask the operator to change the policy if this is needed."],
    [req({ method: 'DELETE' }), "airlock's policy allows only GET to this host. Do not retry with DELETE; ask the operator to change the policy if this is needed."],
    [req({ method: 'POST', path: '/v1/files' }), "airlock's policy allows only paths starting with /v1/messages on this host. Do not retry this path; ask the operator to change the policy if this is needed."],
    [req({ method: 'POST', path: '/v1/messages', websocket: true }), "airlock's policy does not allow WebSocket connections to this host. Do not retry; use plain HTTPS requests or ask the operator to change the policy if this is needed."],
  ])('hint for %j', (facts, hint) => {
    const decision = decideRequest(cfg, facts);
    expect(decision.allow === false && decision.hint).toBe(hint);
  });
});

describe('decideConnect hints', () => {
  it('lists the ports of every rule for the host', () => {
    const d = decideConnect(cfg, 'plain.example.test', 22);
    expect(d.allow === false && d.hint).toBe(
      "airlock's policy allows this host only on port 80, 443. Do not retry on this port; ask the operator to change the policy if this is needed.",
    );
  });
});
