// One recorded exchange between an agent and airlock: allowed, denied, refused or failed.
import type { FlowBodies } from './capture.ts';
import type { Finding } from './dlp/stream.ts';

/** How the request reached airlock; 'airlock': a request of airlock's own (a token endpoint for a credential). */
export type Entry = 'explicit' | 'transparent' | 'route' | 'airlock';
/** would_deny: report mode let through a request the policy would deny (policies/report.ts). */
export type Decision = 'allow' | 'would_deny' | 'deny' | 'refuse' | 'error';

export interface Flow {
  id: string;
  startedAt: number; // ms since epoch
  entry: Entry;
  listener: string;
  client: string;
  /** Proxy-Authorization user, when given (never the password). */
  agentUser?: string;
  method?: string;
  scheme?: 'http' | 'https';
  host?: string;
  port?: number;
  path?: string;
  query?: string;
  protocol: 'h1' | 'h2' | 'ws' | 'tls' | 'tcp';
  status?: number;
  decision: Decision;
  ruleId?: string;
  /** Stable machine code (host_not_allowed, upstream_tls, ...). */
  code?: string;
  reason?: string;
  error?: string;
  requestHeaders?: Record<string, string | string[]>;
  responseHeaders?: Record<string, string | string[]>;
  /** Names of headers airlock set from secrets (values are never stored). */
  injected?: string[];
  bytesUp: number;
  bytesDown: number;
  ttfbMs?: number;
  totalMs?: number;
  /** Body prefixes captured for the store (admitted HTTP requests, when store.body_cap_bytes > 0). */
  bodies?: FlowBodies;
  /** DLP findings (masked), in the order found; at most MAX_FINDINGS per direction. */
  findings?: Finding[];
  /** The budget that refused the request (code budget_exhausted). */
  budget?: string;
  /** The JSON-RPC calls of an MCP request (a host rule with `mcp`), as read before forwarding. */
  mcp?: { method: string; tool: string | null; id: string | null }[];
}

let counter = 0;
const prefix = `${Date.now().toString(36)}-${process.pid.toString(36)}`;

export function newFlow(init: Pick<Flow, 'entry' | 'listener' | 'client'> & Partial<Flow>): Flow {
  // Every field from the start, in one order: flows then share one shape, and the code that reads
  // them on every request (the row, the log line, metrics) stays monomorphic.
  const flow: Flow = {
    id: `${prefix}-${(++counter).toString(36)}`,
    startedAt: Date.now(),
    entry: init.entry,
    listener: init.listener,
    client: init.client,
    agentUser: undefined,
    method: undefined,
    scheme: undefined,
    host: undefined,
    port: undefined,
    path: undefined,
    query: undefined,
    protocol: 'h1',
    status: undefined,
    decision: 'allow',
    ruleId: undefined,
    code: undefined,
    reason: undefined,
    error: undefined,
    requestHeaders: undefined,
    responseHeaders: undefined,
    injected: undefined,
    bytesUp: 0,
    bytesDown: 0,
    ttfbMs: undefined,
    totalMs: undefined,
    bodies: undefined,
    findings: undefined,
    budget: undefined,
    mcp: undefined,
  };
  return Object.assign(flow, init);
}
