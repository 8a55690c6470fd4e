// An admitted request, within budget, on its way upstream: the MCP gate, the body checks, the
// credentials (at hand or awaited), injection, DLP on the body, the exchange, and its end.
// Credentials are at hand synchronously in the common case; a token being minted (or an exec:
// secret being run) makes that one request wait, never the others.
import type { Got } from '../../policies/secrets.ts';
import { Frames, rechunk, unchunk } from '../credentials/aws-chunked.ts';
import type { InjectedValues, Resolved, RuleCredentials } from '../credentials/runtime.ts';
import { sha256Hex } from '../credentials/sigv4.ts';
import { newFlowBodies } from '../capture.ts';
import { BodyRefused, changesLength, scanBody } from '../dlp/body.ts';
import { isAgentFault } from '../errors.ts';
import { forwardRequest, type ResponseFilterFor, type RetryOn401 } from '../io/forward.ts';
import { type AnyResponse, sendRefusal } from '../respond.ts';
import { AS_IS, echoOf, foreignPlaceholders, inject, type Injection } from '../stages/credentials.ts';
import { type BodyCoding, bodyCoding, readUpTo, Replay, unscannableReason } from '../stages/request-body.ts';
import { type BodyTripwire, bodyTripwire, responseFilterFor, scanOptions } from './body-dlp.ts';
import { readMcp } from './mcp-gate.ts';
import { blockReason, markFailed } from './outcomes.ts';
import { authorityOf, countUp, endsConnection, once, requestHasBody } from './request-facts.ts';
import type { Admitted, AnyRequest, PipelineState } from './state.ts';

/** Bytes of a request body kept so the request can be sent again after a 401 (a minted token expired early). */
const REPLAY_CAP = 64 * 1024;

/** Admitted and within budget: an MCP call is read and checked first, then the credentials, then it goes upstream. */
export function admitted(p: PipelineState, req: AnyRequest, res: AnyResponse, a: Admitted): void {
  const { flow, rule, target, rules } = a;
  const coding = bodyCoding(req, rule);
  const tripwire = bodyTripwire(foreignPlaceholders(a.config, rule), target.host);
  const unscannable = (rules || tripwire) && requestHasBody(req) ? unscannableReason(coding) : undefined;
  if (unscannable) {
    Object.assign(flow, { decision: 'deny', status: 415, code: 'unscannable_encoding', reason: unscannable });
    sendRefusal(res, 415, { error: 'unscannable_encoding', host: target.host, reason: unscannable, rule: rule.id });
    req.resume();
    return p.finish(flow, a.config, p.echoOfRule(rule));
  }
  p.active++;
  // The stored copies are scrubbed of what airlock injects: send() updates the set once the credentials are at hand.
  const cap = a.config.store.bodyCapBytes;
  if (cap > 0) flow.bodies = newFlowBodies(cap, p.echoOfRule(rule));
  // An MCP client's request to a server without `mcp` rules: recorded from its stored body (the writer reads its calls).
  if (!rule.mcp && req.method === 'POST' && (req.headers['mcp-protocol-version'] !== undefined || req.headers['mcp-session-id'] !== undefined)) flow.mcp = [];
  if (rule.mcp && req.method === 'POST' && requestHasBody(req)) {
    readMcp(p, req, res, a, rule.mcp, coding.scanned).then(
      (body) => body && p.guardedAsync(credentialed, req, res, a)(p, req, res, a, coding, tripwire, body),
      (err) => p.guardedAsync(failed, req, res, a)(p, req, res, a, err),
    );
    return;
  }
  credentialed(p, req, res, a, coding, tripwire, null);
}

/** A failure while reading the agent's body before forwarding (a limit it hit, a reset). */
function failed(p: PipelineState, req: AnyRequest, res: AnyResponse, a: Admitted, err: unknown): void {
  const e = markFailed(a.flow, err, p.echoOfRule(a.rule));
  if (!res.headersSent) sendRefusal(res, e.status, { error: e.code, host: a.target.host, reason: e.message, rule: a.rule.id });
  else res.destroy();
  req.resume();
  p.done(a);
}

/** The request's credentials, at hand or (a token being minted, an exec: secret run) awaited. `preread`: the body, already read by a check. */
function credentialed(p: PipelineState, req: AnyRequest, res: AnyResponse, a: Admitted, coding: BodyCoding, tripwire: BodyTripwire | undefined, preread: Buffer | null): void {
  const resolved = a.creds ? a.creds.resolve() : null;
  if (resolved instanceof Promise) {
    // This request waits, its body unread (or held, read by a check).
    const go = p.guardedAsync(send, req, res, a);
    resolved.then((got) => go(p, req, res, a, coding, tripwire, preread, got), (err: Error) => go(p, req, res, a, coding, tripwire, preread, { ok: false, problem: err.message }));
  } else send(p, req, res, a, coding, tripwire, preread, resolved);
}

/** An admitted request with its credentials at hand (or why there are none): sent upstream. `preread`: its body, already read (and counted). */
function send(
  p: PipelineState,
  req: AnyRequest,
  res: AnyResponse,
  a: Admitted,
  coding: BodyCoding,
  tripwire: BodyTripwire | undefined,
  preread: Buffer | null,
  got: Got<Resolved> | null,
): void {
  const { config, flow, rule, target, rules } = a;
  if (got && !got.ok) return credentialFailure(p, res, req, a, got.problem);
  if (res.destroyed) {
    markFailed(flow, Object.assign(new Error('the agent closed the connection'), { code: 'UND_ERR_ABORTED' }), null);
    return p.done(a);
  }
  const hasBody = requestHasBody(req);
  const facts = { method: req.method ?? 'GET', path: target.path, authority: authorityOf(target), hasBody, now: Date.now() };
  const inj: Injection = got ? inject(rule, a.headers, got.value, facts) : { ok: true, upstream: a.headers, path: target.path, body: AS_IS };
  if (!inj.ok) {
    Object.assign(flow, { decision: 'refuse', status: 400, code: 'credential_request_unsupported', reason: inj.reason });
    sendRefusal(res, 400, { error: 'credential_request_unsupported', host: target.host, reason: inj.reason, rule: rule.id });
    req.resume();
    return p.done(a);
  }
  const injected = p.credentials.valuesFor(rule);
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
      p.guardedAsync((whole: Buffer | null) => {
        if (!whole) {
          const reason = `the request body is longer than ${plan.max} bytes, the most airlock reads to sign it (aws_sigv4.max_signed_body)`;
          Object.assign(flow, { decision: 'refuse', status: 413, code: 'body_too_large_to_sign', reason });
          // What is left of the body is not read: this connection ends with the answer.
          endsConnection(req, res);
          sendRefusal(res, 413, { error: 'body_too_large_to_sign', host: target.host, reason, rule: rule.id });
          req.resume();
          return p.done(a);
        }
        const signed = plan.sign(sha256Hex(whole)).filter(([k]) => k !== 'content-length');
        dispatch(p, req, res, a, [host, ...signed], inj.path, whole, injected, filterFor, undefined);
      }, req, res, a),
      (err: unknown) => forwardDone(p, req, res, a, err),
    );
    return;
  }
  const creds = a.creds;
  const minted = got?.ok ? got.value.minted : undefined;
  if (!creds || minted === undefined) return dispatch(p, req, res, a, [host, ...upHeaders], inj.path, body, injected, filterFor, undefined);
  // A minted token the API refuses (401): a new one is minted and the request sent once more,
  // when its body (if any) was kept whole (up to REPLAY_CAP) and has been sent.
  const replay = body ? new Replay(REPLAY_CAP) : null;
  if (body && replay) body = replay.tee(body);
  const resend = (again: Got<Resolved>) => {
    if (!again.ok) return credentialFailure(p, res, req, a, again.problem);
    const inj2 = inject(rule, a.headers, again.value, { ...facts, now: Date.now() });
    if (!inj2.ok || inj2.body.kind !== 'as-is') return credentialFailure(p, res, req, a, inj2.ok ? 'the request could not be sent again' : inj2.reason);
    // The replayed body is a buffer: undici sends its length.
    const headers: [string, string][] = [host, ...inj2.upstream.filter(([k]) => k !== 'content-length')];
    // The new token joins what is scrubbed from the answer and the stored copies.
    const injected2 = p.credentials.valuesFor(rule);
    const echo2 = echoOf(injected2);
    if (flow.bodies) flow.bodies.echo = echo2;
    const filterFor2 = responseFilterFor(echo2, rules && config.dlp.responses ? rules : null, flow);
    dispatch(p, req, res, a, headers, inj2.path, replay ? replay.body() : null, injected2, filterFor2, watchToken(creds, again.value.minted, () => false));
  };
  const retry = watchToken(creds, minted, () => !replay || replay.complete(), () => {
    const next = creds.resolve();
    const go = p.guardedAsync(resend, req, res, a);
    if (next instanceof Promise) next.then(go, (err: Error) => go({ ok: false, problem: err.message }));
    else go(next);
  });
  dispatch(p, req, res, a, [host, ...upHeaders], inj.path, body, injected, filterFor, retry);
}

function dispatch(
  p: PipelineState,
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
  forwardRequest(p.upstream.pool(a.config, target, rule), out, res, flow, rule, injected, (err) => forwardDone(p, req, res, a, err), filterFor, retry);
}

/** The end of a forwarded exchange: a refusal or failure answered (when nothing was sent yet), the flow recorded. */
function forwardDone(p: PipelineState, req: AnyRequest, res: AnyResponse, a: Admitted, err: unknown): void {
  const { config, flow, rule } = a;
  const host = a.target.host;
  if (err instanceof BodyRefused) {
    Object.assign(flow, { decision: 'deny', code: err.code, reason: err.finding ? blockReason(config, err.finding) : err.reason });
    flow.status ??= 403;
    if (!res.headersSent) {
      // HTTP/1.1: the rest of the body may still be on its way; this connection ends with the answer.
      endsConnection(req, res);
      sendRefusal(res, 403, { error: err.code, host, reason: flow.reason!, rule: err.finding?.ruleId ?? rule.id });
      req.resume();
    } else res.destroy();
  } else if (err) {
    const e = markFailed(flow, err, p.echoOfRule(rule));
    if (!res.headersSent) {
      if (isAgentFault(e.code)) endsConnection(req, res);
      sendRefusal(res, e.status, { error: e.code, host, reason: e.message, rule: rule.id });
    } else res.destroy();
  }
  p.done(a);
}

/** No credential for this request: 502, recorded; nothing reached the upstream. */
function credentialFailure(p: PipelineState, res: AnyResponse, req: AnyRequest, a: Admitted, problem: string): void {
  const { flow, rule } = a;
  const host = a.target.host;
  // A token endpoint's words are quoted in the reason: never with a value airlock sent or injected.
  const said = p.credentials.valuesFor(rule).values.reduce((text, v) => (text.includes(v) ? text.split(v).join('[redacted]') : text), problem);
  Object.assign(flow, { decision: 'error', status: 502, code: 'credential_unavailable', reason: `airlock has no credential for ${rule.id}: ${said}` });
  sendRefusal(res, 502, { error: 'credential_unavailable', host, reason: flow.reason!, rule: rule.id });
  req.resume();
  p.done(a);
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
