// WebSocket upgrades: admitted like any request (admission.ts), then a tunnel whose agent-side
// messages DLP reads and whose upstream-side messages are scrubbed of what airlock injected.
// An upstream that refuses the upgrade gets its answer relayed, filtered like any response.
import type http from 'node:http';
import { ServerResponse } from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Got } from '../../policies/secrets.ts';
import type { BudgetRefusal } from '../budgets/budgets.ts';
import { budgetRefusal } from '../budgets/refusal.ts';
import { connOf } from '../conn.ts';
import type { Resolved } from '../credentials/runtime.ts';
import { scanAgentMessages } from '../dlp/websocket.ts';
import { scrubUpstreamMessages } from '../dlp/websocket-echo.ts';
import { newFlow } from '../flow.ts';
import { forwardUpgrade, relay, relayHeaders, relayResponse, switchingProtocols } from '../io/forward.ts';
import { sendRefusal, writeRawRefusal } from '../respond.ts';
import { AS_IS, echoOf, foreignPlaceholders, inject, type Injection } from '../stages/credentials.ts';
import { admit } from './admission.ts';
import { responseFilterFor } from './body-dlp.ts';
import { blockReason, markFailed, placeholderReason } from './outcomes.ts';
import { authorityOf } from './request-facts.ts';
import { type Admitted, logFailure, type PipelineState } from './state.ts';

export function upgrade(p: PipelineState, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
  const conn = connOf(req.socket);
  const isWs = (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
  if (!conn) return void socket.destroy();
  conn.life.recorded = true;
  // Taken once, as the upgrade arrives: the WebSocket keeps this policy for as long as it lives.
  const config = p.ref.current;
  if (!isWs) {
    const flow = newFlow({ entry: conn.entry, listener: conn.listener, client: conn.client, method: req.method });
    Object.assign(flow, { decision: 'deny', status: 400, code: 'bad_request', reason: `Upgrade: ${req.headers.upgrade} is not proxied` });
    writeRawRefusal(socket, 400, { error: 'bad_request', reason: flow.reason! });
    return p.finish(flow, config); // the reason quotes the agent's header: sealed
  }
  const r = admit(p, req, conn, true, config);
  if (!r.ok) {
    writeRawRefusal(socket, r.status, { error: r.code, host: r.flow.host, reason: r.reason, rule: r.rule, hint: r.hint });
    return p.finish(r.flow, config);
  }
  const { flow, rule, target } = r.a;
  const closed = p.unrecordable(flow);
  if (closed) {
    writeRawRefusal(socket, 503, { error: 'audit_store_unavailable', host: target.host, reason: closed.reason, rule: rule.id }, closed.retryAfter);
    return p.finish(flow, config);
  }
  const overBudget = (g: BudgetRefusal) => {
    const b = budgetRefusal(r.a, g);
    writeRawRefusal(socket, 429, b.refusal, b.headers);
    p.finish(flow, config);
  };
  const gate = p.budgets ? p.budgets.admit(config, rule.id, flow.agentUser, conn.listener, Date.now()) : null;
  if (gate === null) return upgraded(p, req, socket, head, r.a);
  if (!(gate instanceof Promise)) return overBudget(gate);
  socket.on('error', () => {});
  gate.then(
    (g) => (g ? overBudget(g) : upgraded(p, req, socket, head, r.a)),
    () => {
      socket.destroy();
      p.finish(flow, config);
    },
  );
}

/** An upgrade admitted and within budget: with its credentials, at hand or awaited. */
function upgraded(p: PipelineState, req: http.IncomingMessage, socket: Duplex, head: Buffer, a: Admitted): void {
  const { flow } = a;
  p.active++;
  socket.on('error', () => {});
  const resolved = a.creds ? a.creds.resolve() : null;
  if (!(resolved instanceof Promise)) return upgradeWith(p, req, socket, head, a, resolved);
  const go = (got: Got<Resolved>) => {
    try {
      upgradeWith(p, req, socket, head, a, got);
    } catch (err) {
      logFailure(err, a.config);
      Object.assign(flow, { decision: 'error', status: 500, code: 'internal_error', error: `airlock failed on this request: ${(err as Error).message}` });
      socket.destroy();
      p.done(a);
    }
  };
  resolved.then(go, (err: Error) => go({ ok: false, problem: err.message }));
}

/** The WebSocket upgrade with its credentials at hand. */
function upgradeWith(p: PipelineState, req: http.IncomingMessage, socket: Duplex, head: Buffer, a: Admitted, got: Got<Resolved> | null): void {
  const { config, flow, rule, target, rules } = a;
  const fail = (status: number, code: string, reason: string) => {
    Object.assign(flow, { decision: status === 502 ? 'error' : 'refuse', status, code, reason });
    writeRawRefusal(socket, status, { error: code, host: target.host, reason, rule: rule.id });
    p.done(a);
  };
  if (got && !got.ok) return fail(502, 'credential_unavailable', `airlock has no credential for ${rule.id}: ${got.problem}`);
  const facts = { method: 'GET', path: target.path, authority: authorityOf(target), hasBody: false, now: Date.now() };
  const inj: Injection = got ? inject(rule, a.headers, got.value, facts) : { ok: true, upstream: a.headers, path: target.path, body: AS_IS };
  if (!inj.ok) return fail(400, 'credential_request_unsupported', inj.reason);
  const injected = p.credentials.valuesFor(rule);
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
        p.done(a);
      },
      responseFilterFor(echo, rules && config.dlp.responses ? rules : null, flow),
    );
  };
  forwardUpgrade(p.upstream.pool(config, target, rule), { path: inj.path, method: 'GET', headers: upHeaders.flat(), body: null }, refused).then(
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
        ...(foreign.length ? { placeholders: { values: foreign.map((f) => f.bytes), reason: (i: number) => placeholderReason(foreign[i].host, target.host) } } : {}),
      });
      if (head.length) toUpstream(head);
      const onRefused = (code: string, reason: string) => Object.assign(flow, { decision: 'refuse', code, reason });
      const toAgent = echo ? scrubUpstreamMessages(up, socket, echo, config.limits.maxWebsocketMessageBytes, { onRefused }) : undefined;
      relay(socket, up, flow, () => p.done(a), toUpstream, toAgent);
    },
    (err) => {
      const e = markFailed(flow, err, echo);
      writeRawRefusal(socket, e.status, { error: e.code, host: target.host, reason: e.message, rule: rule.id });
      p.done(a);
    },
  );
}

/** An HTTP/1.1 response written on an upgrade request's socket (Node hands that socket over bare); it closes the connection. */
function responseOnSocket(req: http.IncomingMessage, socket: Duplex): http.ServerResponse {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as net.Socket);
  res.once('finish', () => socket.end());
  return res;
}
