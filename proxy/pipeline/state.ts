// What every stage of the pipeline shares: its dependencies, the requests in progress, and the
// three ways a request ends (finish, done, a throw caught). One per pipeline (per worker).
import type http from 'node:http';
import type http2 from 'node:http2';
import type { Config, HostRule } from '../../policies/types.ts';
import type { Budgets } from '../budgets/budgets.ts';
import type { ConfigRef } from '../config-ref.ts';
import type { EchoSet } from '../dlp/echo.ts';
import { rulesFor } from '../dlp/policy.ts';
import type { Rules } from '../dlp/stream.ts';
import type { Flow } from '../flow.ts';
import type { Upstream } from '../io/upstream.ts';
import { type AnyResponse, sendRefusal } from '../respond.ts';
import { Credentials, type RuleCredentials } from '../credentials/runtime.ts';
import { echoOf } from '../stages/credentials.ts';
import { sealFlowText, sealText } from '../stages/seal.ts';
import type { RequestTarget } from '../stages/target.ts';
import { createTokenFetch } from '../token-requests.ts';
import { markFailed } from './outcomes.ts';

export type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;

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

/** A request the policy let through (admission.ts), with everything decided for it. */
export interface Admitted {
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

export class PipelineState {
  readonly ref: ConfigRef;
  readonly upstream: Upstream;
  readonly budgets: Budgets | undefined;
  readonly caCert: { pem: string; der: Buffer } | undefined;
  readonly credentials: Credentials;
  /** Requests admitted and not yet finished. */
  active = 0;
  /** Shutting down: every response closes its connection. */
  draining = false;
  private readonly record: PipelineDeps['record'];
  private readonly storeRefusal: PipelineDeps['storeRefusal'];

  constructor(deps: PipelineDeps) {
    this.ref = deps.config;
    this.upstream = deps.upstream;
    this.record = deps.record;
    this.storeRefusal = deps.storeRefusal;
    this.budgets = deps.budgets;
    this.caCert = deps.caCert;
    // Token endpoints are reached like any upstream (policy, address checks, TLS), and recorded.
    this.credentials = new Credentials(
      createTokenFetch({
        config: deps.config,
        upstream: deps.upstream,
        finish: (flow, config, rule) => this.finish(flow, config, rule ? this.echoOfRule(rule) : null),
        valuesFor: (rule) => this.credentials.valuesFor(rule),
        failed: (flow, err, rule) => markFailed(flow, err, this.echoOfRule(rule)).message,
      }),
    );
  }

  /**
   * Records the flow, its agent-chosen text sealed first (stages/seal.ts): reason, error, agent
   * user, and the target too when nothing read it yet (`target`). `config`: the policy the flow
   * was handled under. `echo`: the rule's secrets.
   */
  finish(flow: Flow, config: Config, echo: EchoSet | null = null, target = false): void {
    if (flow.reason || flow.error || flow.agentUser || target) {
      sealFlowText(flow, rulesFor(config.dlp, flow.host ?? '', flow.path ?? '/'), echo, target);
    }
    flow.totalMs = Date.now() - flow.startedAt;
    this.record(flow, config);
  }

  /** finish() for an admitted request, which counted as active. */
  done(a: Admitted): void {
    this.active--;
    this.finish(a.flow, a.config, this.echoOfRule(a.rule));
  }

  /** Every form of what airlock injected for the rule so far (minted tokens included): kept from the agent and the record. */
  echoOfRule(rule: HostRule): EchoSet | null {
    return echoOf(this.credentials.valuesFor(rule));
  }

  /** An admitted request the store could not record: refused before anything is forwarded. */
  unrecordable(flow: Flow): { reason: string; retryAfter: Record<string, string> } | null {
    const s = this.storeRefusal?.();
    if (!s) return null;
    Object.assign(flow, { decision: 'refuse', status: 503, code: 'audit_store_unavailable', reason: s.reason });
    return { reason: s.reason, retryAfter: { 'retry-after': String(s.retryAfterS) } };
  }

  /** A continuation that runs after a promise: a throw costs this request (a 500, recorded), never the process. */
  guardedAsync<A extends unknown[]>(fn: (...a: A) => void, req: AnyRequest, res: AnyResponse, admitted: Admitted) {
    return (...a: A) => {
      try {
        fn(...a);
      } catch (err) {
        logFailure(err, admitted.config);
        Object.assign(admitted.flow, { decision: 'error', status: 500, code: 'internal_error', error: `airlock failed on this request: ${(err as Error).message}` });
        sendRefusal(res, 500, { error: 'internal_error', reason: 'airlock failed on this request' });
        req.resume();
        this.done(admitted);
      }
    };
  }
}

/** An unexpected failure's stack for the operator, sealed like a flow's text (it may quote what the agent sent). */
export function logFailure(err: unknown, config: Config): void {
  const stack = sealText(rulesFor(config.dlp, '', '/'), null, (err as Error).stack ?? String(err), 'error').text;
  process.stderr.write(`${JSON.stringify({ level: 'error', msg: 'request handler failed', error: stack })}\n`);
}
