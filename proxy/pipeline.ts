// The per-request pipeline shared by every entry path:
// target -> policy decision -> placeholder check -> credentials -> upstream -> response; always recorded,
// with every DLP finding and every form of an injected secret sealed out of what is recorded.
// Each step is a stage of its own under pipeline/: admission.ts (the front half, up to the
// credentials), forwarding.ts (the MCP gate, credentials, body DLP, the exchange), upgrades.ts
// (WebSockets), own-answers.ts (the CA page, explain_in_tls), state.ts (what they share).
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { BudgetRefusal } from './budgets/budgets.ts';
import { budgetRefusal } from './budgets/refusal.ts';
import { connOf, type ConnInfo } from './conn.ts';
import { newFlow, type Flow } from './flow.ts';
import { closing } from './limits.ts';
import { type AnyResponse, sendRefusal } from './respond.ts';
import { admit } from './pipeline/admission.ts';
import { admitted } from './pipeline/forwarding.ts';
import { isPolicyDenial } from './pipeline/outcomes.ts';
import { explainRefusal, isCaPage, serveCaPage } from './pipeline/own-answers.ts';
import { closeAfter } from './pipeline/request-facts.ts';
import { type Admitted, type AnyRequest, logFailure, PipelineState, type PipelineDeps } from './pipeline/state.ts';
import { upgrade } from './pipeline/upgrades.ts';

export type { PipelineDeps } from './pipeline/state.ts';

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

export function createPipeline(deps: PipelineDeps): Pipeline {
  const p = new PipelineState(deps);

  /** An unexpected throw must cost one request (recorded), never the process. */
  function guarded<A extends unknown[]>(fn: (...a: A) => void, fail: (...a: A) => void) {
    return (...a: A) => {
      try {
        fn(...a);
      } catch (err) {
        // The agent gets a generic 500; the operator gets the stack (an exception may quote what the agent sent: sealed).
        logFailure(err, p.ref.current);
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
    // The policy is taken once, as the request arrives: a reload applies to the next request.
    const config = p.ref.current;
    if (p.draining) closeAfter(req, res);
    if (conn.explain) return explainRefusal(p, req, res, conn, config);
    if (p.caCert && isCaPage(req, conn)) return serveCaPage(p, req, res, conn, p.caCert, config);
    const r = admit(p, req, conn, false, config);
    if (!r.ok) {
      if (r.code === 'header_alias' && req.httpVersionMajor !== 2) {
        // The agent meant its headers to frame the request differently: nothing more is read from it.
        (res as http.ServerResponse).shouldKeepAlive = false;
        closing.add(req.socket);
      }
      sendRefusal(res, r.status, { error: r.code, host: r.flow.host, reason: r.reason, rule: r.rule, hint: r.hint });
      req.resume();
      return p.finish(r.flow, config);
    }
    const { flow, rule, target } = r.a;
    const closed = p.unrecordable(flow);
    if (closed) {
      sendRefusal(res, 503, { error: 'audit_store_unavailable', host: target.host, reason: closed.reason, rule: rule.id }, closed.retryAfter);
      req.resume();
      return p.finish(flow, config);
    }
    const gate = p.budgets ? p.budgets.admit(config, rule.id, flow.agentUser, conn.listener, Date.now()) : null;
    if (gate === null) return admitted(p, req, res, r.a);
    if (!(gate instanceof Promise)) return overBudget(req, res, r.a, gate);
    // A share of a request limit is being claimed from the store: the request waits for it.
    gate.then(
      (g) => continued(req, res, r.a, () => (g ? overBudget(req, res, r.a, g) : admitted(p, req, res, r.a))),
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
      p.finish(a.flow, a.config);
    }
  }

  /** 429 with when the budget's window ends (Retry-After, resets_at): recorded as the policy's decision. */
  function overBudget(req: AnyRequest, res: AnyResponse, a: Admitted, g: BudgetRefusal): void {
    const r = budgetRefusal(a, g);
    sendRefusal(res, 429, r.refusal, r.headers);
    req.resume();
    p.finish(a.flow, a.config);
  }

  function refuse(conn: ConnInfo, code: string, reason: string, protocol: Flow['protocol'], status?: number, fields?: Partial<Flow>): void {
    conn.life.recorded = true;
    const flow = newFlow({ entry: conn.entry, listener: conn.listener, client: conn.client, agentUser: conn.agentUser, protocol });
    Object.assign(flow, { decision: isPolicyDenial(code) ? 'deny' : 'refuse', code, reason, status }, fields);
    if (conn.pinned && !flow.host) Object.assign(flow, { host: conn.pinned.host, port: conn.pinned.port });
    p.finish(flow, p.ref.current, null, true); // a gate's refusal may quote the raw URL: nothing has read it yet
  }

  return {
    handle: guarded(handle, (_req, res) => sendRefusal(res, 500, { error: 'internal_error', reason: 'airlock failed on this request' })),
    upgrade: guarded((req: http.IncomingMessage, socket: Duplex, head: Buffer) => upgrade(p, req, socket, head), (_req, socket) => socket.destroy()),
    active: () => p.active,
    drain: () => {
      p.draining = true;
    },
    stopping: () => p.draining,
    refuse,
  };
}
