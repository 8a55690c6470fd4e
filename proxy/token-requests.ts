// Requests of airlock's own to a token endpoint (OAuth2, GitHub App), for proxy/credentials/:
// the policy must allow the endpoint (decided without an agent identity, so a rule scoped with
// `agents` does not), the request goes through the same upstream pools as agents' requests
// (address checks, TLS verification, timeouts), and it is recorded as a flow (entry "airlock")
// with its secret headers masked and no bodies (they hold the client secret and the token).
import type { Config, HostRule } from '../policies/types.ts';
import { decideRequest } from '../policies/decide.ts';
import type { ConfigRef } from './config-ref.ts';
import type { InjectedValues } from './credentials/runtime.ts';
import type { TokenFetch } from './credentials/token-fetch.ts';
import { newFlow, type Flow } from './flow.ts';
import { fetchBuffered } from './io/fetch-buffered.ts';
import { relayHeaders } from './io/forward.ts';
import type { Upstream } from './io/upstream.ts';
import { headersForRecord } from './stages/headers.ts';

/** A token endpoint's answer is read whole up to this. */
const TOKEN_RESPONSE_CAP = 64 * 1024;

export interface TokenFetchDeps {
  config: ConfigRef;
  upstream: Upstream;
  /** Records a finished flow (sealed under `config`, the policy that decided it), its text sealed of the values sent on `rule`'s behalf. */
  finish: (flow: Flow, config: Config, rule?: HostRule) => void;
  /** What to scrub from the endpoint's answer headers before they are recorded. */
  valuesFor: (rule: HostRule) => InjectedValues;
  /** Records an upstream failure on the flow; returns the words for it (without the values sent on `rule`'s behalf). */
  failed: (flow: Flow, err: unknown, rule: HostRule) => string;
}

export function createTokenFetch(d: TokenFetchDeps): TokenFetch {
  return async (r) => {
    const scheme = r.url.protocol === 'http:' ? 'http' : 'https';
    const port = r.url.port ? Number(r.url.port) : scheme === 'https' ? 443 : 80;
    const host = r.url.hostname.replace(/^\[(.*)\]$/, '$1');
    const where = `${r.url.origin}${r.url.pathname}`;
    const flow = newFlow({ entry: 'airlock', listener: 'airlock', client: 'airlock', method: r.method, protocol: 'h1' });
    Object.assign(flow, { scheme, host, port, path: r.url.pathname, query: r.url.search ? r.url.search.slice(1) : undefined, reason: `token request for ${r.purpose}` });
    flow.requestHeaders = headersForRecord(r.headers.map(([k, v]) => [k, r.secretHeaders.includes(k) ? `[injected:${k}]` : v]));
    flow.injected = r.secretHeaders.filter((k) => r.headers.some(([h]) => h === k));
    const config = d.config.current; // this request's policy, start to end
    const decision = decideRequest(config, { host, port, scheme, method: r.method, path: r.url.pathname, websocket: false });
    if (!decision.allow) {
      Object.assign(flow, { decision: 'deny', code: decision.code, reason: `token request for ${r.purpose}: ${decision.reason}`, ruleId: decision.ruleId });
      d.finish(flow, config);
      return { ok: false, problem: `the policy does not allow the token endpoint ${where} (${decision.code}: ${decision.reason})` };
    }
    const rule = decision.rule;
    flow.ruleId = rule.id;
    r.onRule?.(rule);
    const authority = r.url.host; // without the scheme's default port
    try {
      const headers = [['host', authority], ...r.headers, ['content-length', String(r.body.length)]].flat();
      flow.bytesUp = r.body.length;
      const res = await fetchBuffered(d.upstream.pool(config, { scheme, host, port }, rule), { path: `${r.url.pathname}${r.url.search}`, method: r.method, headers, body: r.body }, TOKEN_RESPONSE_CAP);
      Object.assign(flow, { status: res.status, bytesDown: res.body.length, ttfbMs: Date.now() - flow.startedAt });
      flow.responseHeaders = relayHeaders(d.valuesFor(rule), res.headers);
      d.finish(flow, config, rule);
      return { ok: true, value: { ...res, rule } };
    } catch (err) {
      const problem = d.failed(flow, err, rule);
      d.finish(flow, config, rule);
      return { ok: false, problem };
    }
  };
}
