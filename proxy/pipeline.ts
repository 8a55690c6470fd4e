// The per-request pipeline shared by every entry path:
// target -> policy decision -> placeholder check -> injection -> upstream -> response; always recorded,
// with every DLP finding and every form of an injected secret sealed out of what is recorded.
import type http from 'node:http';
import { ServerResponse } from 'node:http';
import type net from 'node:net';
import type http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { decideRequest } from '../policies/decide.ts';
import { matchesNormalized } from '../policies/hostnames.ts';
import type { Config, HostRule } from '../policies/types.ts';
import { agentUser } from './agent-user.ts';
import type { ConfigRef } from './config-ref.ts';
import { connOf, type ConnInfo } from './conn.ts';
import { newFlowBodies } from './capture.ts';
import { describeUpstreamError, isAgentFault } from './errors.ts';
import { newFlow, type Flow } from './flow.ts';
import { closing } from './limits.ts';
import { BodyRefused, changesLength, scanBody, scannable } from './dlp/body.ts';
import { scanHead } from './dlp/head.ts';
import { scanAgentMessages } from './dlp/websocket.ts';
import { scrubUpstreamMessages } from './dlp/websocket-echo.ts';
import { rulesFor } from './dlp/policy.ts';
import { responseFilter } from './dlp/response.ts';
import type { Finding, Rules } from './dlp/stream.ts';
import { Tripwire } from './dlp/tripwire.ts';
import type { EchoSet } from './dlp/echo.ts';
import { forwardRequest, forwardUpgrade, relay, relayHeaders, relayResponse, type ResponseFilterFor, switchingProtocols } from './io/forward.ts';
import type { Upstream } from './io/upstream.ts';
import { type AnyResponse, hintFor, sendRefusal, writeRawRefusal } from './respond.ts';
import { checkPlaceholders, echoSetOfRule, type ForeignPlaceholder, foreignPlaceholders, inject, withoutRange } from './stages/credentials.ts';
import { checkHeaderNames, forwardableHeaders, headersForRecord, injectedAliases } from './stages/headers.ts';
import { sealFlowText, sealRefusedHead, sealText } from './stages/seal.ts';
import { requestTarget, type RequestTarget } from './stages/target.ts';

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;

export interface PipelineDeps {
  config: ConfigRef;
  upstream: Upstream;
  /** Every finished flow, exactly once: the store, metrics, the log. */
  record: (flow: Flow) => void;
  /**
   * Non-null while the flow store cannot write and store.on_unavailable is refuse: admitted
   * requests are then answered 503 instead of forwarded (proxy/store/availability.ts).
   */
  storeRefusal?: () => { reason: string; retryAfterS: number } | null;
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
  flow: Flow;
  rule: HostRule;
  target: RequestTarget;
  headers: [string, string][];
  /** DLP rules for this request; null when DLP does not apply. */
  rules: Rules | null;
}

export function createPipeline({ config: ref, upstream, record, storeRefusal }: PipelineDeps): Pipeline {
  let active = 0;
  let draining = false;

  /**
   * Records the flow, its agent-chosen text sealed first (stages/seal.ts): reason, error, agent
   * user, and the target too when nothing read it yet (`target`). `echo`: the rule's secrets.
   */
  function finish(flow: Flow, echo: EchoSet | null = null, target = false): void {
    if (flow.reason || flow.error || flow.agentUser || target) {
      sealFlowText(flow, rulesFor(ref.current.dlp, flow.host ?? '', flow.path ?? '/'), echo, target);
    }
    flow.totalMs = Date.now() - flow.startedAt;
    record(flow);
  }

  /** An admitted request the store could not record: refused before anything is forwarded. */
  function unrecordable(flow: Flow): { reason: string; retryAfter: Record<string, string> } | null {
    const s = storeRefusal?.();
    if (!s) return null;
    Object.assign(flow, { decision: 'refuse', status: 503, code: 'audit_store_unavailable', reason: s.reason });
    return { reason: s.reason, retryAfter: { 'retry-after': String(s.retryAfterS) } };
  }

  /** finish() for an admitted request, which counted as active. */
  function done(flow: Flow, rule: HostRule): void {
    active--;
    finish(flow, echoSetOfRule(rule));
  }

  /** Shared front half: target, decision, placeholder check, injection. A refusal is a value. */
  function admit(
    req: AnyRequest,
    conn: ConnInfo,
    websocket: boolean,
  ): { ok: true; a: Admitted } | { ok: false; flow: Flow; status: number; code: string; reason: string; rule?: string } {
    const config = ref.current;
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
    const refuse = (status: number, code: string, reason: string, rule?: string, decision: 'deny' | 'refuse' = 'deny', sealed = false) => {
      if (!sealed) sealRefusedHead(flow, rulesFor(config.dlp, flow.host ?? '', flow.path ?? '/'), target?.path, raw);
      flow.decision = decision;
      flow.status = status;
      flow.code = code;
      flow.reason = reason;
      flow.ruleId = rule;
      return { ok: false as const, flow, status, code, reason, rule };
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
    if (!d.allow) return refuse(403, d.code, d.reason, d.ruleId);
    const rule = d.rule;
    flow.ruleId = rule.id;
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
    const inj = inject(rule, agentHeaders);
    flow.requestHeaders = headersForRecord(rules && flow.findings ? inject(rule, raw).recorded : inj.recorded);
    flow.injected = inj.injected;
    // Range windows of an echo could hand the key over in pieces (credentials.ts withoutRange).
    const headers: [string, string][] = [['host', authorityOf(target)], ...withoutRange(rule, inj.upstream)];
    return { ok: true, a: { flow, rule, target: path === target.path ? target : { ...target, path }, headers, rules } };
  }

  /** An unexpected throw must cost one request (recorded), never the process. */
  function guarded<A extends unknown[]>(fn: (...a: A) => void, fail: (...a: A) => void) {
    return (...a: A) => {
      try {
        fn(...a);
      } catch (err) {
        // The agent gets a generic 500; the operator gets the stack (an exception may quote what the agent sent: sealed).
        const stack = sealText(rulesFor(ref.current.dlp, '', '/'), null, (err as Error).stack ?? String(err), 'error').text;
        process.stderr.write(`${JSON.stringify({ level: 'error', msg: 'request handler failed', error: stack })}\n`);
        fail(...a);
        const conn = connOf((a[0] as AnyRequest).socket);
        if (conn) refuse(conn, 'internal_error', `airlock failed on this request: ${(err as Error).message}`, 'h1', 500);
      }
    };
  }

  function handle(req: AnyRequest, res: AnyResponse): void {
    const conn = connOf(req.socket);
    if (!conn) {
      res.destroy();
      return;
    }
    conn.life.recorded = true; // this request's flow names the connection
    if (draining) closeAfter(req, res);
    const r = admit(req, conn, false);
    if (!r.ok) {
      if (r.code === 'header_alias' && req.httpVersionMajor !== 2) {
        // The agent meant its headers to frame the request differently: nothing more is read from it.
        (res as http.ServerResponse).shouldKeepAlive = false;
        closing.add(req.socket);
      }
      sendRefusal(res, r.status, { error: r.code, host: r.flow.host, reason: r.reason, rule: r.rule });
      req.resume();
      return finish(r.flow);
    }
    const { flow, rule, target, headers, rules } = r.a;
    const closed = unrecordable(flow);
    if (closed) {
      sendRefusal(res, 503, { error: 'audit_store_unavailable', host: target.host, reason: closed.reason, rule: rule.id }, closed.retryAfter);
      req.resume();
      return finish(flow);
    }
    const config = ref.current;
    const echo = echoSetOfRule(rule);
    const encoding = headerValue(req.headers['content-encoding']);
    const tripwire = bodyTripwire(foreignPlaceholders(config, rule), target.host);
    if ((rules || tripwire) && requestHasBody(req) && !scannable(encoding)) {
      const reason = `the request body is sent with Content-Encoding: ${encoding}, which airlock cannot scan`;
      Object.assign(flow, { decision: 'deny', status: 415, code: 'unscannable_encoding', reason });
      sendRefusal(res, 415, { error: 'unscannable_encoding', host: target.host, reason, rule: rule.id });
      req.resume();
      return finish(flow, echo);
    }
    active++;
    const cap = config.store.bodyCapBytes;
    if (cap > 0) flow.bodies = newFlowBodies(cap, echo);
    let body: AsyncIterable<Buffer> | null = requestHasBody(req) ? countUp(req, flow, !rules) : null;
    let outHeaders = headers;
    if (body && (rules || tripwire)) {
      const lengthChanges = changesLength(encoding);
      if (lengthChanges) outHeaders = headers.filter(([k]) => k !== 'content-length');
      // DLP captures what it released (decoded, every finding redacted); the size stays the wire's.
      const capture = rules ? flow.bodies?.request : undefined;
      body = scanBody(body, {
        rules,
        ...(tripwire ? { tripwire } : {}),
        location: 'request body',
        encoding,
        form: /^application\/x-www-form-urlencoded\b/i.test(headerValue(req.headers['content-type']) ?? ''),
        sameLength: !lengthChanges,
        maxDecodedBytes: config.dlp.maxDecodedBytes,
        maxRatio: config.dlp.maxRatio,
        wireBytes: () => flow.bytesUp,
        onFinding: (f) => (flow.findings ??= []).push(f),
        ...(capture ? { onStored: (b: Buffer) => capture.add(b) } : {}),
      });
      if (capture) Object.assign(capture, { decoded: true, wire: () => flow.bytesUp });
    }
    const out = { path: target.path, method: req.method ?? 'GET', headers: outHeaders.flat(), body };
    const filterFor = responseFilterFor(echo, rules && config.dlp.responses ? rules : null, flow);
    forwardRequest(
      upstream.pool(target, rule),
      out,
      res,
      flow,
      rule,
      (err) => {
        if (err instanceof BodyRefused) {
          Object.assign(flow, { decision: 'deny', code: err.code, reason: err.finding ? blockReason(config, err.finding) : err.reason });
          flow.status ??= 403;
          if (!res.headersSent) {
            // HTTP/1.1: the rest of the body may still be on its way; this connection ends with the answer.
            if (req.httpVersionMajor !== 2) (res as http.ServerResponse).shouldKeepAlive = false;
            sendRefusal(res, 403, { error: err.code, host: target.host, reason: flow.reason!, rule: err.finding?.ruleId ?? rule.id });
            req.resume();
          } else res.destroy();
        } else if (err) {
          const e = markFailed(flow, err, echo);
          if (!res.headersSent) sendRefusal(res, e.status, { error: e.code, host: target.host, reason: e.message, rule: rule.id, hint: hintFor(e.code) });
          else res.destroy();
        }
        done(flow, rule);
      },
      filterFor,
    );
  }

  function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const conn = connOf(req.socket);
    const isWs = (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
    if (!conn) return void socket.destroy();
    conn.life.recorded = true;
    if (!isWs) {
      const flow = newFlow({ entry: conn.entry, listener: conn.listener, client: conn.client, method: req.method });
      Object.assign(flow, { decision: 'deny', status: 400, code: 'bad_request', reason: `Upgrade: ${req.headers.upgrade} is not proxied` });
      writeRawRefusal(socket, 400, { error: 'bad_request', reason: flow.reason! });
      return finish(flow); // the reason quotes the agent's header: sealed
    }
    const r = admit(req, conn, true);
    if (!r.ok) {
      writeRawRefusal(socket, r.status, { error: r.code, host: r.flow.host, reason: r.reason, rule: r.rule });
      return finish(r.flow);
    }
    const { flow, rule, target, headers, rules } = r.a;
    const closed = unrecordable(flow);
    if (closed) {
      writeRawRefusal(socket, 503, { error: 'audit_store_unavailable', host: target.host, reason: closed.reason, rule: rule.id }, closed.retryAfter);
      return finish(flow);
    }
    active++;
    socket.on('error', () => {});
    // Messages must be readable (size limit, DLP): no permessage-deflate through airlock.
    const upHeaders = headers.filter(([k]) => k !== 'sec-websocket-extensions');
    // An upstream that refuses the upgrade: its answer (status, headers, body, scrubbed and
    // scanned like any response) goes to the agent, then the connection closes. No tunnel.
    const refused = () => {
      const res = responseOnSocket(req, socket);
      const config = ref.current;
      return relayResponse(
        res,
        flow,
        rule,
        (err) => {
          if (err) {
            const e = markFailed(flow, err, echoSetOfRule(rule));
            if (!res.headersSent) sendRefusal(res, e.status, { error: e.code, host: target.host, reason: e.message, rule: rule.id, hint: hintFor(e.code) });
            else res.destroy();
          }
          done(flow, rule);
        },
        responseFilterFor(echoSetOfRule(rule), rules && config.dlp.responses ? rules : null, flow),
      );
    };
    forwardUpgrade(upstream.pool(target, rule), { path: target.path, method: 'GET', headers: upHeaders.flat(), body: null }, refused).then(
      (switched) => {
        if (!switched) return;
        const { headers: answer, socket: up } = switched;
        flow.status = 101;
        flow.ttfbMs = Date.now() - flow.startedAt;
        flow.responseHeaders = relayHeaders(rule, answer);
        socket.write(switchingProtocols(flow.responseHeaders));
        const foreign = foreignPlaceholders(ref.current, rule);
        const toUpstream = scanAgentMessages(socket, up, rules, ref.current.limits.maxWebsocketMessageBytes, {
          onFinding: (f) => (flow.findings ??= []).push(f),
          onRefused: (code, reason, finding) => {
            const deny = code === 'dlp_blocked' || code === 'placeholder_exfiltration';
            Object.assign(flow, { decision: deny ? 'deny' : 'refuse', code, reason: finding ? blockReason(ref.current, finding) : reason });
          },
          ...(foreign.length ? { placeholders: { values: foreign.map((p) => p.bytes), reason: (i: number) => placeholderReason(foreign[i].host, target.host) } } : {}),
        });
        if (head.length) toUpstream(head);
        const echo = echoSetOfRule(rule);
        const onRefused = (code: string, reason: string) => Object.assign(flow, { decision: 'refuse', code, reason });
        const toAgent = echo ? scrubUpstreamMessages(up, socket, echo, ref.current.limits.maxWebsocketMessageBytes, { onRefused }) : undefined;
        relay(socket, up, flow, () => done(flow, rule), toUpstream, toAgent);
      },
      (err) => {
        const e = markFailed(flow, err, echoSetOfRule(rule));
        writeRawRefusal(socket, e.status, { error: e.code, host: target.host, reason: e.message, rule: rule.id });
        done(flow, rule);
      },
    );
  }

  function refuse(conn: ConnInfo, code: string, reason: string, protocol: Flow['protocol'], status?: number, fields?: Partial<Flow>): void {
    conn.life.recorded = true;
    const flow = newFlow({ entry: conn.entry, listener: conn.listener, client: conn.client, agentUser: conn.agentUser, protocol });
    Object.assign(flow, { decision: isPolicyDenial(code) ? 'deny' : 'refuse', code, reason, status }, fields);
    if (conn.pinned && !flow.host) Object.assign(flow, { host: conn.pinned.host, port: conn.pinned.port });
    finish(flow, null, true); // a gate's refusal may quote the raw URL: nothing has read it yet
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
  Object.assign(flow, { decision, code: e.code, error: e.message });
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

function headerValue(v: string | string[] | undefined): string | undefined {
  const one = Array.isArray(v) ? v.join(', ') : v;
  return one?.trim().toLowerCase() || undefined;
}

/** The 403's reason: where, which rule, in plain words; never the secret. */
function blockReason(config: Config, f: Finding): string {
  const rule = config.dlp.rules.find((r) => r.id === f.ruleId);
  return `the ${f.location.startsWith('header:') ? `header ${f.location.slice(7)}` : f.location} matched DLP rule ${f.ruleId}${rule ? ` (${rule.description})` : ''}`;
}

/** Response filter for this exchange: scrubs the rule's injected credentials, runs response DLP, feeds the store. */
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

/** The body's tripwire: other rules' placeholders, when there are any. */
function bodyTripwire(foreign: readonly ForeignPlaceholder[], host: string): { wire: Tripwire; reason: (i: number) => string } | undefined {
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

const injectedNamesOf = new WeakMap<HostRule, ReadonlySet<string>>();

/** Header names the rule overwrites (not scanned: the agent's value never leaves). Once per rule. */
function injectedNames(rule: HostRule): ReadonlySet<string> {
  let names = injectedNamesOf.get(rule);
  if (!names) injectedNamesOf.set(rule, (names = new Set(rule.injectHeaders.map((h) => h.name))));
  return names;
}

