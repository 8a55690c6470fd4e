// The per-request pipeline shared by every entry path:
// target -> policy decision -> placeholder check -> credentials -> upstream -> response; always recorded,
// with every DLP finding and every form of an injected secret sealed out of what is recorded.
// Credentials are at hand synchronously in the common case; a token being minted (or an exec:
// secret being run) makes that one request wait, never the others.
import type http from 'node:http';
import { ServerResponse } from 'node:http';
import type net from 'node:net';
import type http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { decideRequest } from '../policies/decide.ts';
import { reportThrough } from '../policies/report.ts';
import { matchesNormalized } from '../policies/hostnames.ts';
import type { Config, HostRule, McpPolicy } from '../policies/types.ts';
import { type BudgetRefusal, type Budgets } from './budgets/budgets.ts';
import { budgetRefusal } from './budgets/refusal.ts';
import { agentUser } from './agent-user.ts';
import type { ConfigRef } from './config-ref.ts';
import { connOf, type ConnInfo } from './conn.ts';
import { newFlowBodies } from './capture.ts';
import { CA_PAGE_HOST, caPage } from './ca-page.ts';
import { describeUpstreamError, isAgentFault } from './errors.ts';
import { newFlow, type Flow } from './flow.ts';
import { closing } from './limits.ts';
import { BodyRefused, changesLength, scanBody } from './dlp/body.ts';
import { scanHead } from './dlp/head.ts';
import { scanAgentMessages } from './dlp/websocket.ts';
import { scrubUpstreamMessages } from './dlp/websocket-echo.ts';
import { rulesFor } from './dlp/policy.ts';
import { responseFilter } from './dlp/response.ts';
import type { Finding, Rules } from './dlp/stream.ts';
import type { StoredPieces } from './dlp/segments.ts';
import { Tripwire } from './dlp/tripwire.ts';
import type { EchoSet } from './dlp/echo.ts';
import { forwardRequest, forwardUpgrade, relay, relayHeaders, relayResponse, type ResponseFilterFor, type RetryOn401, switchingProtocols } from './io/forward.ts';
import type { Upstream } from './io/upstream.ts';
import { type AnyResponse, hintFor, sendJson, sendRefusal, writeRawRefusal } from './respond.ts';
import {
  AS_IS,
  checkPlaceholders,
  echoOf,
  type ForeignPlaceholder,
  foreignPlaceholders,
  inject,
  type Injection,
  overwrittenNames,
  recordedHeaders,
  withoutRange,
} from './stages/credentials.ts';
import { deniedAnswer, firstDenied, isBatch, readRpc, unreadableAnswer } from './stages/mcp.ts';
import { checkHeaderNames, forwardableHeaders, headersForRecord, injectedAliases } from './stages/headers.ts';
import { sealFlowText, sealRefusedHead, sealText } from './stages/seal.ts';
import { Frames, rechunk, unchunk } from './credentials/aws-chunked.ts';
import { Credentials, type InjectedValues, type Resolved, type RuleCredentials } from './credentials/runtime.ts';
import { sha256Hex } from './credentials/sigv4.ts';
import { createTokenFetch } from './token-requests.ts';
import { type BodyCoding, bodyCoding, readUpTo, Replay, unscannableReason } from './stages/request-body.ts';
import type { Got } from '../policies/secrets.ts';
import { requestTarget, type RequestTarget } from './stages/target.ts';

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;

export interface PipelineDeps {
  config: ConfigRef;
  upstream: Upstream;
  /** Every finished flow, exactly once: the store, metrics, the log. `config`: the policy the flow was handled under. */
  record: (flow: Flow, config: Config) => void;
  /**
   * Non-null while the flow store cannot write and store.on_unavailable is refuse: admitted
   * requests are then answered 503 instead of forwarded (proxy/store/availability.ts).
   */
  storeRefusal?: () => { reason: string; retryAfterS: number } | null;
  /** Budgets and rate limits per agent (proxy/budgets/); none: not checked. */
  budgets?: Budgets;
  /** airlock's CA certificate, served at the CA page's reserved name (proxy/ca-page.ts). */
  caCert?: { pem: string; der: Buffer };
}

export interface Pipeline {
  handle(req: AnyRequest, res: AnyResponse): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Requests admitted and not yet finished (for draining on shutdown). */
  active(): number;
  /** From now on every response closes its connection, so keep-alive clients move away. */
  drain(): void;
  /** drain() was called: airlock is shutting down. */
  stopping(): boolean;
  /** Records a connection that ended before any request (denied CONNECT, bad TLS, garbage, the agent gave up), or a refused request. */
  refuse(conn: ConnInfo, code: string, reason: string, protocol: Flow['protocol'], status?: number, fields?: Partial<Flow>): void;
}

interface Admitted {
  /** The policy in force when the request arrived: everything about this request follows it, a reload meanwhile included. */
  config: Config;
  flow: Flow;
  rule: HostRule;
  target: RequestTarget;
  /** The agent's headers as they may go upstream (DLP-redacted where DLP redacts), before credentials. */
  headers: [string, string][];
  /** The rule's credentials; null when it injects nothing. */
  creds: RuleCredentials | null;
  /** DLP rules for this request; null when DLP does not apply. */
  rules: Rules | null;
}

/** Bytes of a request body kept so the request can be sent again after a 401 (a minted token expired early). */
const REPLAY_CAP = 64 * 1024;


export function createPipeline({ config: ref, upstream, record, storeRefusal, budgets, caCert }: PipelineDeps): Pipeline {
  let active = 0;
  let draining = false;

  /**
   * Records the flow, its agent-chosen text sealed first (stages/seal.ts): reason, error, agent
   * user, and the target too when nothing read it yet (`target`). `config`: the policy the flow
   * was handled under. `echo`: the rule's secrets.
   */
  function finish(flow: Flow, config: Config, echo: EchoSet | null = null, target = false): void {
    if (flow.reason || flow.error || flow.agentUser || target) {
      sealFlowText(flow, rulesFor(config.dlp, flow.host ?? '', flow.path ?? '/'), echo, target);
    }
    flow.totalMs = Date.now() - flow.startedAt;
    record(flow, config);
  }

  // Token endpoints are reached like any upstream (policy, address checks, TLS), and recorded.
  const credentials: Credentials = new Credentials(
    createTokenFetch({
      config: ref,
      upstream,
      finish: (flow, config, rule) => finish(flow, config, rule ? echoOfRule(rule) : null),
      valuesFor: (rule) => credentials.valuesFor(rule),
      failed: (flow, err, rule) => markFailed(flow, err, echoOfRule(rule)).message,
    }),
  );

  /** An admitted request the store could not record: refused before anything is forwarded. */
  function unrecordable(flow: Flow): { reason: string; retryAfter: Record<string, string> } | null {
    const s = storeRefusal?.();
    if (!s) return null;
    Object.assign(flow, { decision: 'refuse', status: 503, code: 'audit_store_unavailable', reason: s.reason });
    return { reason: s.reason, retryAfter: { 'retry-after': String(s.retryAfterS) } };
  }

  /** finish() for an admitted request, which counted as active. */
  function done(a: Admitted): void {
    active--;
    finish(a.flow, a.config, echoOfRule(a.rule));
  }

  /** Every form of what airlock injected for the rule so far (minted tokens included): kept from the agent and the record. */
  function echoOfRule(rule: HostRule): EchoSet | null {
    return echoOf(credentials.valuesFor(rule));
  }

  /** Shared front half: target, decision, placeholder check, injection, all under `config`. A refusal is a value. */
  function admit(
    req: AnyRequest,
    conn: ConnInfo,
    websocket: boolean,
    config: Config,
  ): { ok: true; a: Admitted } | { ok: false; flow: Flow; status: number; code: string; reason: string; rule?: string; hint?: string } {
    const isH2 = req.httpVersionMajor === 2;
    const flow = newFlow({
      entry: conn.entry,
      listener: conn.listener,
      client: conn.client,
      agentUser: agentUser(req.headers['proxy-authorization'] as string | undefined) ?? conn.agentUser,
      method: req.method,
      protocol: websocket ? 'ws' : isH2 ? 'h2' : 'h1',
    });
    const url = (isH2 ? (req as http2.Http2ServerRequest).url : req.url) ?? '/';
    const authority = isH2 ? (req.headers[':authority'] as string | undefined) ?? req.headers.host : req.headers.host;
    const raw = forwardableHeaders(req.rawHeaders);
    let target: RequestTarget | undefined;
    /** `sealed`: DLP already gave the record its copy of the head. */
    const refuse = (status: number, code: string, reason: string, rule?: string, decision: 'deny' | 'refuse' = 'deny', sealed = false, hint?: string) => {
      if (!sealed) sealRefusedHead(flow, rulesFor(config.dlp, flow.host ?? '', flow.path ?? '/'), target?.path, raw);
      flow.decision = decision;
      flow.status = status;
      flow.code = code;
      flow.reason = reason;
      flow.ruleId = rule;
      return { ok: false as const, flow, status, code, reason, rule, hint };
    };

    const t = requestTarget(conn, url, authority, conn.route ? (h) => config.hosts.some((r) => matchesNormalized(r.match, h)) : undefined);
    if (!t.ok) {
      flow.host = t.host;
      return refuse(t.status, t.code, t.reason);
    }
    target = t.target;
    const q = target.path.indexOf('?');
    Object.assign(flow, {
      scheme: target.scheme,
      host: target.host,
      port: target.port,
      path: q < 0 ? target.path : target.path.slice(0, q),
      query: q < 0 ? undefined : target.path.slice(q + 1),
    });
    const d = decideRequest(config, {
      host: target.host,
      port: target.port,
      scheme: target.scheme,
      method: req.method ?? 'GET',
      path: flow.path ?? '/',
      websocket,
      agent: { user: flow.agentUser, listener: conn.listener },
    });
    let rule: HostRule;
    if (d.allow) {
      rule = d.rule;
      flow.ruleId = rule.id;
    } else {
      // Report mode: the denial is recorded and the request goes on (policies/report.ts).
      const through = reportThrough(config, d, target.host);
      if (!through) return refuse(403, d.code, d.reason, d.ruleId, 'deny', false, d.hint);
      Object.assign(flow, { decision: 'would_deny', code: d.code, reason: d.reason, ruleId: d.ruleId });
      rule = through;
    }
    const names = checkHeaderNames(raw, injectedAliasesOf(rule), config.limits.headersWithUnderscores);
    if (!names.ok) return refuse(400, names.code, names.reason, rule.id, 'refuse');
    if (names.headers !== raw) raw.splice(0, raw.length, ...names.headers);
    const p = checkPlaceholders(foreignPlaceholders(config, rule), target.path, raw);
    if (!p.ok) return refuse(403, 'placeholder_exfiltration', placeholderReason(p.placeholderOf, target.host), rule.id);
    const rules = rulesFor(config.dlp, target.host, flow.path ?? '/');
    let agentHeaders = raw;
    let path = target.path;
    if (rules) {
      const h = scanHead(rules, target.path, raw, injectedNames(rule));
      if (h.findings.length) {
        flow.findings = h.findings;
        // The record keeps every finding redacted, whatever the action.
        const q = h.storedPath.indexOf('?');
        flow.path = q < 0 ? h.storedPath : h.storedPath.slice(0, q);
        flow.query = q < 0 ? undefined : h.storedPath.slice(q + 1);
      }
      if (h.blocked) {
        flow.requestHeaders = headersForRecord(h.storedHeaders);
        const r = refuse(403, 'dlp_blocked', blockReason(config, h.blocked), h.blocked.ruleId, 'deny', true);
        flow.ruleId = rule.id;
        return r;
      }
      agentHeaders = h.headers;
      path = h.path;
      if (h.findings.length) raw.splice(0, raw.length, ...h.storedHeaders);
    }
    const rec = recordedHeaders(rule, rules && flow.findings ? raw : agentHeaders);
    flow.requestHeaders = headersForRecord(rec.recorded);
    flow.injected = rec.injected;
    const creds = credentials.of(rule);
    // Range windows of an echo could hand the key over in pieces (credentials.ts withoutRange).
    const headers = withoutRange(rule, agentHeaders);
    return { ok: true, a: { config, flow, rule, target: path === target.path ? target : { ...target, path }, headers, creds, rules } };
  }

  /** An unexpected throw must cost one request (recorded), never the process. */
  function guarded<A extends unknown[]>(fn: (...a: A) => void, fail: (...a: A) => void) {
    return (...a: A) => {
      try {
        fn(...a);
      } catch (err) {
        // The agent gets a generic 500; the operator gets the stack (an exception may quote what the agent sent: sealed).
        logFailure(err, ref.current);
        fail(...a);
        const conn = connOf((a[0] as AnyRequest).socket);
        if (conn) refuse(conn, 'internal_error', `airlock failed on this request: ${(err as Error).message}`, 'h1', 500);
      }
    };
  }

  /** An unexpected failure's stack for the operator, sealed like a flow's text (it may quote what the agent sent). */
  function logFailure(err: unknown, config: Config): void {
    const stack = sealText(rulesFor(config.dlp, '', '/'), null, (err as Error).stack ?? String(err), 'error').text;
    process.stderr.write(`${JSON.stringify({ level: 'error', msg: 'request handler failed', error: stack })}\n`);
  }

  function handle(req: AnyRequest, res: AnyResponse): void {
    const conn = connOf(req.socket);
    if (!conn) {
      res.destroy();
      return;
    }
    conn.life.recorded = true; // this request's flow names the connection
    // The policy is taken once, as the request arrives: a reload applies to the next request.
    const config = ref.current;
    if (draining) closeAfter(req, res);
    if (conn.explain) return explainRefusal(req, res, conn, config);
    if (caCert && isCaPage(req, conn)) return serveCaPage(req, res, conn, caCert, config);
    const r = admit(req, conn, false, config);
    if (!r.ok) {
      if (r.code === 'header_alias' && req.httpVersionMajor !== 2) {
        // The agent meant its headers to frame the request differently: nothing more is read from it.
        (res as http.ServerResponse).shouldKeepAlive = false;
        closing.add(req.socket);
      }
      sendRefusal(res, r.status, { error: r.code, host: r.flow.host, reason: r.reason, rule: r.rule, hint: r.hint });
      req.resume();
      return finish(r.flow, config);
    }
    const { flow, rule, target } = r.a;
    const closed = unrecordable(flow);
    if (closed) {
      sendRefusal(res, 503, { error: 'audit_store_unavailable', host: target.host, reason: closed.reason, rule: rule.id }, closed.retryAfter);
      req.resume();
      return finish(flow, config);
    }
    const gate = budgets ? budgets.admit(config, rule.id, flow.agentUser, conn.listener, Date.now()) : null;
    if (gate === null) return admitted(req, res, r.a);
    if (!(gate instanceof Promise)) return overBudget(req, res, r.a, gate);
    // A share of a request limit is being claimed from the store: the request waits for it.
    gate.then(
      (g) => continued(req, res, r.a, () => (g ? overBudget(req, res, r.a, g) : admitted(req, res, r.a))),
      (err) => continued(req, res, r.a, () => {
        throw err;
      }),
    );
  }

  /** The rest of a request after an asynchronous step (before it counts as active): a throw costs this request (a 500, recorded), never the process. */
  function continued(req: AnyRequest, res: AnyResponse, a: Admitted, next: () => void): void {
    try {
      next();
    } catch (err) {
      logFailure(err, a.config);
      Object.assign(a.flow, { decision: 'error', status: 500, code: 'internal_error', reason: `airlock failed on this request: ${(err as Error).message}` });
      sendRefusal(res, 500, { error: 'internal_error', reason: 'airlock failed on this request' });
      req.resume();
      finish(a.flow, a.config);
    }
  }

  /** 429 with when the budget's window ends (Retry-After, resets_at): recorded as the policy's decision. */
  function overBudget(req: AnyRequest, res: AnyResponse, a: Admitted, g: BudgetRefusal): void {
    const r = budgetRefusal(a, g);
    sendRefusal(res, 429, r.refusal, r.headers);
    req.resume();
    finish(a.flow, a.config);
  }

  /** Admitted and within budget: an MCP call is read and checked first, then the credentials, then it goes upstream. */
  function admitted(req: AnyRequest, res: AnyResponse, a: Admitted): void {
    const { flow, rule, target, rules } = a;
    const coding = bodyCoding(req, rule);
    const tripwire = bodyTripwire(foreignPlaceholders(a.config, rule), target.host);
    const unscannable = (rules || tripwire) && requestHasBody(req) ? unscannableReason(coding) : undefined;
    if (unscannable) {
      Object.assign(flow, { decision: 'deny', status: 415, code: 'unscannable_encoding', reason: unscannable });
      sendRefusal(res, 415, { error: 'unscannable_encoding', host: target.host, reason: unscannable, rule: rule.id });
      req.resume();
      return finish(flow, a.config, echoOfRule(rule));
    }
    active++;
    // The stored copies are scrubbed of what airlock injects: send() updates the set once the credentials are at hand.
    const cap = a.config.store.bodyCapBytes;
    if (cap > 0) flow.bodies = newFlowBodies(cap, echoOfRule(rule));
    // An MCP client's request to a server without `mcp` rules: recorded from its stored body (the writer reads its calls).
    if (!rule.mcp && req.method === 'POST' && (req.headers['mcp-protocol-version'] !== undefined || req.headers['mcp-session-id'] !== undefined)) flow.mcp = [];
    if (rule.mcp && req.method === 'POST' && requestHasBody(req)) {
      readMcp(req, res, a, rule.mcp, coding).then(
        (body) => body && guardedAsync(credentialed, req, res, a)(req, res, a, coding, tripwire, body),
        (err) => guardedAsync(failed, req, res, a)(req, res, a, err),
      );
      return;
    }
    credentialed(req, res, a, coding, tripwire, null);
  }

  /**
   * An MCP request's body, read whole (up to mcp.max_body) and checked: returned when it may go
   * on, or answered here (a denied tool, an unreadable body) with null. Recorded either way, its
   * calls and (DLP-scanned) body included.
   */
  async function readMcp(req: AnyRequest, res: AnyResponse, a: Admitted, policy: McpPolicy, coding: BodyCoding): Promise<Buffer | null> {
    const { flow, rule, target } = a;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of countUp(req, flow, !a.rules)) {
      size += chunk.length;
      if (size > policy.maxBodyBytes) {
        const reason = `the MCP request body is larger than ${policy.maxBodyBytes} bytes (hosts[${rule.index}].mcp.max_body), so airlock cannot check it`;
        Object.assign(flow, { decision: 'refuse', status: 413, code: 'mcp_body_too_large', reason });
        if (req.httpVersionMajor !== 2) (res as http.ServerResponse).shouldKeepAlive = false;
        sendRefusal(res, 413, { error: 'mcp_body_too_large', host: target.host, reason, rule: rule.id });
        req.resume();
        done(a);
        return null;
      }
      chunks.push(chunk);
    }
    const body = Buffer.concat(chunks);
    const read = readRpc(body);
    const answer = (text: string, status: number) => {
      flow.status = status;
      // Kept for the record like a response from the server would be.
      flow.responseHeaders = { 'content-type': 'application/json' };
      flow.bodies?.response.add(Buffer.from(text));
      flow.bytesDown += Buffer.byteLength(text);
      sendJson(res, status, text, { error: flow.code!, reason: flow.reason! });
    };
    if (!read.ok) {
      Object.assign(flow, { decision: 'refuse', code: 'mcp_unreadable', reason: read.reason });
      await storeScanned(req, a, body, coding);
      answer(unreadableAnswer(read.reason), 400);
      done(a);
      return null;
    }
    flow.mcp = read.calls.map((c) => ({ method: c.method, tool: c.tool, id: c.id === null ? null : String(c.id) }));
    const denied = firstDenied(policy, read.calls);
    if (!denied) return body;
    const reason = `the MCP tool "${denied.call.tool}" is denied by rule ${rule.id} (${denied.why})`;
    Object.assign(flow, { decision: 'deny', code: 'mcp_tool_denied', reason });
    await storeScanned(req, a, body, coding);
    answer(deniedAnswer(read.calls, denied.call, `airlock: ${reason}`, { error: 'mcp_tool_denied', tool: denied.call.tool, rule: rule.id, hint: hintFor('mcp_tool_denied') }, isBatch(body)), 200);
    done(a);
    return null;
  }

  /** A body that is not forwarded, scanned for the record all the same: findings and the redacted copy. */
  async function storeScanned(req: AnyRequest, a: Admitted, body: Buffer, coding: BodyCoding): Promise<void> {
    if (!a.rules) return;
    try {
      for await (const chunk of scanBody(once(body), scanOptions(req, a, coding.scanned))) void chunk;
    } catch {
      // blocked by DLP too: the findings are recorded, the body is not kept past the match
    }
  }

  /**
   * DLP (and the placeholder tripwire) over a request body. DLP captures what it released
   * (decoded, every finding redacted); the size stays the wire's.
   */
  function scanOptions(req: AnyRequest, a: Admitted, encoding: string | undefined, tripwire?: BodyTripwire): Parameters<typeof scanBody>[1] {
    const { config, flow, rules } = a;
    const capture = rules ? flow.bodies?.request : undefined;
    if (capture) Object.assign(capture, { decoded: true, wire: () => flow.bytesUp });
    return {
      rules,
      ...(tripwire ? { tripwire } : {}),
      location: 'request body',
      encoding,
      form: /^application\/x-www-form-urlencoded\b/i.test(headerValue(req.headers['content-type']) ?? ''),
      sameLength: !changesLength(encoding),
      maxDecodedBytes: config.dlp.maxDecodedBytes,
      maxRatio: config.dlp.maxRatio,
      wireBytes: () => flow.bytesUp,
      onFinding: (f) => (flow.findings ??= []).push(f),
      ...(capture ? { onStored: (b: Buffer, pieces?: StoredPieces) => capture.add(b, pieces) } : {}),
    };
  }

  /** A failure while reading the agent's body before forwarding (a limit it hit, a reset). */
  function failed(req: AnyRequest, res: AnyResponse, a: Admitted, err: unknown): void {
    const e = markFailed(a.flow, err, echoOfRule(a.rule));
    if (!res.headersSent) sendRefusal(res, e.status, { error: e.code, host: a.target.host, reason: e.message, rule: a.rule.id });
    else res.destroy();
    req.resume();
    done(a);
  }

  /** The request's credentials, at hand or (a token being minted, an exec: secret run) awaited. `preread`: the body, already read by a check. */
  function credentialed(req: AnyRequest, res: AnyResponse, a: Admitted, coding: BodyCoding, tripwire: BodyTripwire | undefined, preread: Buffer | null): void {
    const resolved = a.creds ? a.creds.resolve() : null;
    if (resolved instanceof Promise) {
      // This request waits, its body unread (or held, read by a check).
      const go = guardedAsync(send, req, res, a);
      resolved.then((got) => go(req, res, a, coding, tripwire, preread, got), (err: Error) => go(req, res, a, coding, tripwire, preread, { ok: false, problem: err.message }));
    } else send(req, res, a, coding, tripwire, preread, resolved);
  }

  /** An admitted request with its credentials at hand (or why there are none): sent upstream. `preread`: its body, already read (and counted). */
  function send(
    req: AnyRequest,
    res: AnyResponse,
    a: Admitted,
    coding: BodyCoding,
    tripwire: BodyTripwire | undefined,
    preread: Buffer | null,
    got: Got<Resolved> | null,
  ): void {
    const { config, flow, rule, target, rules } = a;
    if (got && !got.ok) return credentialFailure(res, req, a, got.problem);
    if (res.destroyed) {
      markFailed(flow, Object.assign(new Error('the agent closed the connection'), { code: 'UND_ERR_ABORTED' }), null);
      return done(a);
    }
    const hasBody = requestHasBody(req);
    const facts = { method: req.method ?? 'GET', path: target.path, authority: authorityOf(target), hasBody, now: Date.now() };
    const inj: Injection = got ? inject(rule, a.headers, got.value, facts) : { ok: true, upstream: a.headers, path: target.path, body: AS_IS };
    if (!inj.ok) {
      Object.assign(flow, { decision: 'refuse', status: 400, code: 'credential_request_unsupported', reason: inj.reason });
      sendRefusal(res, 400, { error: 'credential_request_unsupported', host: target.host, reason: inj.reason, rule: rule.id });
      req.resume();
      return done(a);
    }
    const injected = credentials.valuesFor(rule);
    const echo = echoOf(injected);
    if (flow.bodies) flow.bodies.echo = echo;
    let body: AsyncIterable<Buffer> | null = preread ? once(preread) : hasBody ? countUp(req, flow, !rules) : null;
    let upHeaders = inj.upstream;
    const frames = body && inj.body.kind === 'chunked' ? new Frames() : null;
    if (body && frames && inj.body.kind === 'chunked') body = unchunk(body, inj.body.mode, frames);
    if (body && (rules || tripwire)) {
      if (changesLength(coding.scanned)) upHeaders = upHeaders.filter(([k]) => k !== 'content-length');
      body = scanBody(body, scanOptions(req, a, coding.scanned, tripwire));
    }
    if (body && frames && inj.body.kind === 'chunked') body = rechunk(body, inj.body.mode, frames, inj.body.signing);
    const filterFor = responseFilterFor(echo, rules && config.dlp.responses ? rules : null, flow);
    const host: [string, string] = ['host', facts.authority];
    const plan = inj.body;
    if (plan.kind === 'hash') {
      // A service that wants the payload's hash in the signature: the body is read (bounded) first.
      void readUpTo(body, plan.max).then(
        guardedAsync((whole: Buffer | null) => {
          if (!whole) {
            const reason = `the request body is longer than ${plan.max} bytes, the most airlock reads to sign it (aws_sigv4.max_signed_body)`;
            Object.assign(flow, { decision: 'refuse', status: 413, code: 'body_too_large_to_sign', reason });
            // What is left of the body is not read: this connection ends with the answer.
            if (req.httpVersionMajor !== 2) (res as http.ServerResponse).shouldKeepAlive = false;
            sendRefusal(res, 413, { error: 'body_too_large_to_sign', host: target.host, reason, rule: rule.id });
            req.resume();
            return done(a);
          }
          const signed = plan.sign(sha256Hex(whole)).filter(([k]) => k !== 'content-length');
          dispatch(req, res, a, [host, ...signed], inj.path, whole, injected, filterFor, undefined);
        }, req, res, a),
        (err: unknown) => forwardDone(req, res, a, err),
      );
      return;
    }
    const creds = a.creds;
    const minted = got?.ok ? got.value.minted : undefined;
    if (!creds || minted === undefined) return dispatch(req, res, a, [host, ...upHeaders], inj.path, body, injected, filterFor, undefined);
    // A minted token the API refuses (401): a new one is minted and the request sent once more,
    // when its body (if any) was kept whole (up to REPLAY_CAP) and has been sent.
    const replay = body ? new Replay(REPLAY_CAP) : null;
    if (body && replay) body = replay.tee(body);
    const resend = (again: Got<Resolved>) => {
      if (!again.ok) return credentialFailure(res, req, a, again.problem);
      const inj2 = inject(rule, a.headers, again.value, { ...facts, now: Date.now() });
      if (!inj2.ok || inj2.body.kind !== 'as-is') return credentialFailure(res, req, a, inj2.ok ? 'the request could not be sent again' : inj2.reason);
      // The replayed body is a buffer: undici sends its length.
      const headers: [string, string][] = [host, ...inj2.upstream.filter(([k]) => k !== 'content-length')];
      // The new token joins what is scrubbed from the answer and the stored copies.
      const injected2 = credentials.valuesFor(rule);
      const echo2 = echoOf(injected2);
      if (flow.bodies) flow.bodies.echo = echo2;
      const filterFor2 = responseFilterFor(echo2, rules && config.dlp.responses ? rules : null, flow);
      dispatch(req, res, a, headers, inj2.path, replay ? replay.body() : null, injected2, filterFor2, watchToken(creds, again.value.minted, () => false));
    };
    const retry = watchToken(creds, minted, () => !replay || replay.complete(), () => {
      const next = creds.resolve();
      const go = guardedAsync(resend, req, res, a);
      if (next instanceof Promise) next.then(go, (err: Error) => go({ ok: false, problem: err.message }));
      else go(next);
    });
    dispatch(req, res, a, [host, ...upHeaders], inj.path, body, injected, filterFor, retry);
  }

  function dispatch(
    req: AnyRequest,
    res: AnyResponse,
    a: Admitted,
    headers: [string, string][],
    path: string,
    body: AsyncIterable<Buffer> | Buffer | null,
    injected: InjectedValues,
    filterFor: ResponseFilterFor | undefined,
    retry: RetryOn401 | undefined,
  ): void {
    const { flow, rule, target } = a;
    const out = { path, method: req.method ?? 'GET', headers: headers.flat(), body: body as AsyncIterable<Buffer> | null };
    forwardRequest(upstream.pool(a.config, target, rule), out, res, flow, rule, injected, (err) => forwardDone(req, res, a, err), filterFor, retry);
  }

  /** The end of a forwarded exchange: a refusal or failure answered (when nothing was sent yet), the flow recorded. */
  function forwardDone(req: AnyRequest, res: AnyResponse, a: Admitted, err: unknown): void {
    const { config, flow, rule } = a;
    const host = a.target.host;
    if (err instanceof BodyRefused) {
      Object.assign(flow, { decision: 'deny', code: err.code, reason: err.finding ? blockReason(config, err.finding) : err.reason });
      flow.status ??= 403;
      if (!res.headersSent) {
        // HTTP/1.1: the rest of the body may still be on its way; this connection ends with the answer.
        if (req.httpVersionMajor !== 2) (res as http.ServerResponse).shouldKeepAlive = false;
        sendRefusal(res, 403, { error: err.code, host, reason: flow.reason!, rule: err.finding?.ruleId ?? rule.id });
        req.resume();
      } else res.destroy();
    } else if (err) {
      const e = markFailed(flow, err, echoOfRule(rule));
      if (!res.headersSent) {
        if (isAgentFault(e.code) && req.httpVersionMajor !== 2) (res as http.ServerResponse).shouldKeepAlive = false;
        sendRefusal(res, e.status, { error: e.code, host, reason: e.message, rule: rule.id });
      } else res.destroy();
    }
    done(a);
  }

  /** No credential for this request: 502, recorded; nothing reached the upstream. */
  function credentialFailure(res: AnyResponse, req: AnyRequest, a: Admitted, problem: string): void {
    const { flow, rule } = a;
    const host = a.target.host;
    // A token endpoint's words are quoted in the reason: never with a value airlock sent or injected.
    const said = credentials.valuesFor(rule).values.reduce((text, v) => (text.includes(v) ? text.split(v).join('[redacted]') : text), problem);
    Object.assign(flow, { decision: 'error', status: 502, code: 'credential_unavailable', reason: `airlock has no credential for ${rule.id}: ${said}` });
    sendRefusal(res, 502, { error: 'credential_unavailable', host, reason: flow.reason!, rule: rule.id });
    req.resume();
    done(a);
  }

  /** guarded() for continuations that run after a promise: a throw costs this request, recorded. */
  function guardedAsync<A extends unknown[]>(fn: (...a: A) => void, req: AnyRequest, res: AnyResponse, admitted: Admitted) {
    return (...a: A) => {
      try {
        fn(...a);
      } catch (err) {
        logFailure(err, admitted.config);
        Object.assign(admitted.flow, { decision: 'error', status: 500, code: 'internal_error', error: `airlock failed on this request: ${(err as Error).message}` });
        sendRefusal(res, 500, { error: 'internal_error', reason: 'airlock failed on this request' });
        req.resume();
        done(admitted);
      }
    };
  }

  /** explain_in_tls: the connection was refused; each request on it gets the refusal, inside TLS, and the connection closes. */
  function explainRefusal(req: AnyRequest, res: AnyResponse, conn: ConnInfo, config: Config): void {
    const e = conn.explain!;
    const flow = newFlow({ entry: conn.entry, listener: conn.listener, client: conn.client, agentUser: conn.agentUser, method: req.method, protocol: req.httpVersionMajor === 2 ? 'h2' : 'h1' });
    const url = (req.httpVersionMajor === 2 ? (req as http2.Http2ServerRequest).url : req.url) ?? '/';
    const q = url.indexOf('?');
    Object.assign(flow, {
      scheme: 'https', host: conn.pinned?.host, port: conn.pinned?.port, path: q < 0 ? url : url.slice(0, q), query: q < 0 ? undefined : url.slice(q + 1),
      decision: 'deny', status: 403, code: e.code, reason: e.reason, ruleId: e.rule,
    });
    // What the agent sent is recorded as any refused head is: every DLP finding redacted.
    sealRefusedHead(flow, rulesFor(config.dlp, flow.host ?? '', flow.path ?? '/'), url, forwardableHeaders(req.rawHeaders));
    closeAfter(req, res);
    sendRefusal(res, 403, { error: e.code, host: conn.pinned?.host, reason: e.reason, rule: e.rule, hint: e.hint });
    req.resume();
    finish(flow, config);
  }

  /** The CA page (proxy/ca-page.ts): the public certificate and install steps, recorded like any flow. */
  function serveCaPage(req: AnyRequest, res: AnyResponse, conn: ConnInfo, ca: { pem: string; der: Buffer }, config: Config): void {
    const isH2 = req.httpVersionMajor === 2;
    const url = (isH2 ? (req as http2.Http2ServerRequest).url : req.url) ?? '/';
    const t = requestTarget(conn, url, isH2 ? ((req.headers[':authority'] as string | undefined) ?? req.headers.host) : req.headers.host);
    const path = t.ok ? t.target.path : '/';
    const page = caPage(path, req.method ?? 'GET', ca.pem, ca.der);
    const flow = newFlow({ entry: conn.entry, listener: conn.listener, client: conn.client, agentUser: conn.agentUser, method: req.method, protocol: isH2 ? 'h2' : 'h1' });
    Object.assign(flow, { scheme: t.ok ? t.target.scheme : 'http', host: CA_PAGE_HOST, port: t.ok ? t.target.port : 80, path: path.split('?')[0], decision: 'allow', status: page.status, ruleId: 'airlock-ca-page' });
    const body = typeof page.body === 'string' ? Buffer.from(page.body) : page.body;
    flow.bytesDown = body.length;
    try {
      (res as http.ServerResponse).writeHead(page.status, { ...page.headers, 'content-length': body.length });
      if (req.method === 'HEAD') res.end();
      else res.end(body);
    } catch {
      res.destroy();
    }
    req.resume();
    finish(flow, config, null, true); // the path is the agent's, unread by DLP
  }

  function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const conn = connOf(req.socket);
    const isWs = (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
    if (!conn) return void socket.destroy();
    conn.life.recorded = true;
    // Taken once, as the upgrade arrives: the WebSocket keeps this policy for as long as it lives.
    const config = ref.current;
    if (!isWs) {
      const flow = newFlow({ entry: conn.entry, listener: conn.listener, client: conn.client, method: req.method });
      Object.assign(flow, { decision: 'deny', status: 400, code: 'bad_request', reason: `Upgrade: ${req.headers.upgrade} is not proxied` });
      writeRawRefusal(socket, 400, { error: 'bad_request', reason: flow.reason! });
      return finish(flow, config); // the reason quotes the agent's header: sealed
    }
    const r = admit(req, conn, true, config);
    if (!r.ok) {
      writeRawRefusal(socket, r.status, { error: r.code, host: r.flow.host, reason: r.reason, rule: r.rule, hint: r.hint });
      return finish(r.flow, config);
    }
    const { flow, rule, target } = r.a;
    const closed = unrecordable(flow);
    if (closed) {
      writeRawRefusal(socket, 503, { error: 'audit_store_unavailable', host: target.host, reason: closed.reason, rule: rule.id }, closed.retryAfter);
      return finish(flow, config);
    }
    const overBudgetRaw = (g: BudgetRefusal) => {
      const b = budgetRefusal(r.a, g);
      writeRawRefusal(socket, 429, b.refusal, b.headers);
      finish(flow, config);
    };
    const gate = budgets ? budgets.admit(config, rule.id, flow.agentUser, conn.listener, Date.now()) : null;
    if (gate === null) return upgraded(req, socket, head, r.a);
    if (!(gate instanceof Promise)) return overBudgetRaw(gate);
    socket.on('error', () => {});
    gate.then(
      (g) => (g ? overBudgetRaw(g) : upgraded(req, socket, head, r.a)),
      () => {
        socket.destroy();
        finish(flow, config);
      },
    );
  }

  /** An upgrade admitted and within budget: with its credentials, at hand or awaited. */
  function upgraded(req: http.IncomingMessage, socket: Duplex, head: Buffer, a: Admitted): void {
    const { flow } = a;
    active++;
    socket.on('error', () => {});
    const resolved = a.creds ? a.creds.resolve() : null;
    if (!(resolved instanceof Promise)) return upgradeWith(req, socket, head, a, resolved);
    const go = (got: Got<Resolved>) => {
      try {
        upgradeWith(req, socket, head, a, got);
      } catch (err) {
        logFailure(err, a.config);
        Object.assign(flow, { decision: 'error', status: 500, code: 'internal_error', error: `airlock failed on this request: ${(err as Error).message}` });
        socket.destroy();
        done(a);
      }
    };
    resolved.then(go, (err: Error) => go({ ok: false, problem: err.message }));
  }

  /** The WebSocket upgrade with its credentials at hand. */
  function upgradeWith(req: http.IncomingMessage, socket: Duplex, head: Buffer, a: Admitted, got: Got<Resolved> | null): void {
    const { config, flow, rule, target, rules } = a;
    const fail = (status: number, code: string, reason: string) => {
      Object.assign(flow, { decision: status === 502 ? 'error' : 'refuse', status, code, reason });
      writeRawRefusal(socket, status, { error: code, host: target.host, reason, rule: rule.id });
      done(a);
    };
    if (got && !got.ok) return fail(502, 'credential_unavailable', `airlock has no credential for ${rule.id}: ${got.problem}`);
    const facts = { method: 'GET', path: target.path, authority: authorityOf(target), hasBody: false, now: Date.now() };
    const inj: Injection = got ? inject(rule, a.headers, got.value, facts) : { ok: true, upstream: a.headers, path: target.path, body: AS_IS };
    if (!inj.ok) return fail(400, 'credential_request_unsupported', inj.reason);
    const injected = credentials.valuesFor(rule);
    const echo = echoOf(injected);
    // Messages must be readable (size limit, DLP): no permessage-deflate through airlock.
    const upHeaders: [string, string][] = [['host', facts.authority], ...inj.upstream.filter(([k]) => k !== 'sec-websocket-extensions')];
    // An upstream that refuses the upgrade: its answer (status, headers, body, scrubbed and
    // scanned like any response) goes to the agent, then the connection closes. No tunnel.
    const refused = () => {
      const res = responseOnSocket(req, socket);
      return relayResponse(
        res,
        flow,
        rule,
        injected,
        (err) => {
          if (err) {
            const e = markFailed(flow, err, echo);
            if (!res.headersSent) sendRefusal(res, e.status, { error: e.code, host: target.host, reason: e.message, rule: rule.id });
            else res.destroy();
          }
          done(a);
        },
        responseFilterFor(echo, rules && config.dlp.responses ? rules : null, flow),
      );
    };
    forwardUpgrade(upstream.pool(config, target, rule), { path: inj.path, method: 'GET', headers: upHeaders.flat(), body: null }, refused).then(
      (switched) => {
        if (!switched) return;
        const { headers: answer, socket: up } = switched;
        flow.status = 101;
        flow.ttfbMs = Date.now() - flow.startedAt;
        flow.responseHeaders = relayHeaders(injected, answer);
        socket.write(switchingProtocols(flow.responseHeaders));
        const foreign = foreignPlaceholders(config, rule);
        const toUpstream = scanAgentMessages(socket, up, rules, config.limits.maxWebsocketMessageBytes, {
          onFinding: (f) => (flow.findings ??= []).push(f),
          onRefused: (code, reason, finding) => {
            const deny = code === 'dlp_blocked' || code === 'placeholder_exfiltration';
            Object.assign(flow, { decision: deny ? 'deny' : 'refuse', code, reason: finding ? blockReason(config, finding) : reason });
          },
          ...(foreign.length ? { placeholders: { values: foreign.map((p) => p.bytes), reason: (i: number) => placeholderReason(foreign[i].host, target.host) } } : {}),
        });
        if (head.length) toUpstream(head);
        const onRefused = (code: string, reason: string) => Object.assign(flow, { decision: 'refuse', code, reason });
        const toAgent = echo ? scrubUpstreamMessages(up, socket, echo, config.limits.maxWebsocketMessageBytes, { onRefused }) : undefined;
        relay(socket, up, flow, () => done(a), toUpstream, toAgent);
      },
      (err) => {
        const e = markFailed(flow, err, echo);
        writeRawRefusal(socket, e.status, { error: e.code, host: target.host, reason: e.message, rule: rule.id });
        done(a);
      },
    );
  }

  function refuse(conn: ConnInfo, code: string, reason: string, protocol: Flow['protocol'], status?: number, fields?: Partial<Flow>): void {
    conn.life.recorded = true;
    const flow = newFlow({ entry: conn.entry, listener: conn.listener, client: conn.client, agentUser: conn.agentUser, protocol });
    Object.assign(flow, { decision: isPolicyDenial(code) ? 'deny' : 'refuse', code, reason, status }, fields);
    if (conn.pinned && !flow.host) Object.assign(flow, { host: conn.pinned.host, port: conn.pinned.port });
    finish(flow, ref.current, null, true); // a gate's refusal may quote the raw URL: nothing has read it yet
  }

  return {
    handle: guarded(handle, (_req, res) => sendRefusal(res, 500, { error: 'internal_error', reason: 'airlock failed on this request' })),
    upgrade: guarded(upgrade, (_req, socket) => socket.destroy()),
    active: () => active,
    drain: () => {
      draining = true;
    },
    stopping: () => draining,
    refuse,
  };
}

/** An HTTP/1.1 response written on an upgrade request's socket (Node hands that socket over bare); it closes the connection. */
function responseOnSocket(req: http.IncomingMessage, socket: Duplex): http.ServerResponse {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as net.Socket);
  res.once('finish', () => socket.end());
  return res;
}

/** A request for the CA page: in a tunnel to its name, or naming it in Host (a cheap look before the full target check). */
function isCaPage(req: AnyRequest, conn: ConnInfo): boolean {
  if (conn.pinned) return conn.pinned.host === CA_PAGE_HOST;
  const host = req.httpVersionMajor === 2 ? ((req.headers[':authority'] as string | undefined) ?? req.headers.host) : req.headers.host;
  return host !== undefined && host.toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '') === CA_PAGE_HOST;
}

/** Codes of the policy's own decisions (policies/decide.ts), as opposed to refusals of bad input. */
function isPolicyDenial(code: string): boolean {
  return code.endsWith('_not_allowed') || code.endsWith('_denied_by_rule');
}

/** Stopping: HTTP/1.1 answers with Connection: close, HTTP/2 gets a GOAWAY; this request still completes. */
function closeAfter(req: AnyRequest, res: AnyResponse): void {
  if (req.httpVersionMajor === 2) (req as http2.Http2ServerRequest).stream.session?.close();
  else (res as http.ServerResponse).shouldKeepAlive = false;
}

/** Records an upstream failure on the flow; returns what the agent is told (never a form of the rule's secrets). */
function markFailed(flow: Flow, err: unknown, echo: EchoSet | null): ReturnType<typeof describeUpstreamError> {
  const e = describeUpstreamError(err);
  if (echo) e.message = sealText(null, echo, e.message, 'error').text;
  // A limit the agent hit (a slow or oversized body) is airlock refusing the request, not a failure.
  const decision = e.code === 'address_not_allowed' ? 'deny' : isAgentFault(e.code) ? 'refuse' : 'error';
  if (decision === 'error' && flow.decision === 'would_deny') {
    // Report mode: what the policy would have done stays the record's decision; the failure is its error.
    flow.error = `${e.code}: ${e.message}`;
  } else Object.assign(flow, { decision, code: e.code, error: e.message });
  flow.status ??= e.status; // a response already under way keeps the status the agent saw
  return e;
}

function authorityOf(t: RequestTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return t.port === (t.scheme === 'https' ? 443 : 80) ? host : `${host}:${t.port}`;
}

function requestHasBody(req: AnyRequest): boolean {
  if (req.httpVersionMajor === 2) return !(req as http2.Http2ServerRequest).stream.endAfterHeaders;
  const h = req.headers;
  return h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
}

/** The agent's body as it arrives, counted (and captured as sent, unless DLP captures it scanned). */
async function* countUp(req: AnyRequest, flow: Flow, capture: boolean): AsyncGenerator<Buffer> {
  for await (const chunk of req as AsyncIterable<Buffer>) {
    flow.bytesUp += chunk.length;
    if (capture) flow.bodies?.request.add(chunk);
    yield chunk;
  }
}

/** A body already read, as the stream the upstream request pulls. */
async function* once(body: Buffer): AsyncGenerator<Buffer> {
  if (body.length) yield body;
}

function headerValue(v: string | string[] | undefined): string | undefined {
  const one = Array.isArray(v) ? v.join(', ') : v;
  return one?.trim().toLowerCase() || undefined;
}

/** The 403's reason: where, which rule, in plain words; never the secret. */
function blockReason(config: Config, f: Finding): string {
  const rule = config.dlp.rules.find((r) => r.id === f.ruleId);
  return `the ${f.location.startsWith('header:') ? `header ${f.location.slice(7)}` : f.location} matched DLP rule ${f.ruleId}${rule ? ` (${rule.description})` : ''}`;
}

/** Response filter for this exchange: scrubs every form of the values airlock injected, runs response DLP, feeds the store. */
function responseFilterFor(echo: EchoSet | null, rules: Rules | null, flow: Flow): ResponseFilterFor | undefined {
  if (!echo && !rules) return undefined;
  return (headers) => {
    const capture = flow.bodies?.response;
    const filter = responseFilter({
      echo,
      rules,
      encoding: headerValue(headers['content-encoding']),
      contentType: headerValue(headers['content-type']),
      onFinding: (f) => (flow.findings ??= []).push(f),
      ...(capture ? { onStored: (b: Buffer) => capture.add(b) } : {}),
    });
    // The store keeps what the agent was given (scrubbed, decoded); the size stays the wire's.
    if (capture && filter?.stores) Object.assign(capture, { decoded: true, scrubbed: echo !== null, wire: () => flow.bytesDown });
    return filter;
  };
}

/** The refusal's reason for another rule's placeholder. */
function placeholderReason(owner: string, host: string): string {
  return `a credential placeholder for ${owner} was sent to ${host}`;
}

type BodyTripwire = { wire: Tripwire; reason: (i: number) => string };

/** The body's tripwire: other rules' placeholders, when there are any. */
function bodyTripwire(foreign: readonly ForeignPlaceholder[], host: string): BodyTripwire | undefined {
  if (foreign.length === 0) return undefined;
  return { wire: new Tripwire(foreign.map((p) => p.bytes)), reason: (i) => placeholderReason(foreign[i].host, host) };
}

const injectedAliasesByRule = new WeakMap<HostRule, ReadonlyMap<string, string>>();

/** The rule's injected header names by the name an upstream may read them as. Once per rule. */
function injectedAliasesOf(rule: HostRule): ReadonlyMap<string, string> {
  let aliases = injectedAliasesByRule.get(rule);
  if (!aliases) injectedAliasesByRule.set(rule, (aliases = injectedAliases(injectedNames(rule))));
  return aliases;
}

/** Header names the rule overwrites (not scanned: the agent's value never leaves). Once per rule. */
function injectedNames(rule: HostRule): ReadonlySet<string> {
  return overwrittenNames(rule);
}

/**
 * What becomes of a minted token by the answers it gets: a 401 throws it away (and, when
 * `replayable()`, the request goes `again()`); any other answer confirms it works.
 */
function watchToken(creds: RuleCredentials, token: string | undefined, replayable: () => boolean, again: () => void = () => {}): RetryOn401 | undefined {
  if (token === undefined) return undefined;
  return {
    accept: () => creds.invalidate(token) && replayable(),
    again,
    answered: () => creds.confirm(token),
  };
}
