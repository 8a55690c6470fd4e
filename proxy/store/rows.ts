// A flow as a row of the flows table: column order shared by the INSERT and toRow().
import type { Flow } from '../flow.ts';

/** The flows columns airlock fills, in row order (id, hash and prev_hash are the writer's). */
export const COLUMNS = [
  'flow_id', 'started_at', 'entry', 'listener', 'client', 'agent_user', 'method', 'scheme', 'host', 'port', 'path',
  'query', 'protocol', 'status', 'decision', 'rule_id', 'code', 'reason', 'error', 'injected', 'bytes_up',
  'bytes_down', 'ttfb_ms', 'total_ms', 'request_headers', 'response_headers',
];

/** Positional values (binding by name costs a property lookup per column per row). */
export function toRow(f: Flow): unknown[] {
  return [
    f.id,
    f.startedAt,
    f.entry,
    f.listener,
    f.client,
    f.agentUser ?? null,
    f.method ?? null,
    f.scheme ?? null,
    f.host ?? null,
    f.port ?? null,
    f.path ?? null,
    f.query ?? null,
    f.protocol,
    f.status ?? null,
    f.decision,
    f.ruleId ?? null,
    f.code ?? null,
    f.reason ?? null,
    f.error ?? null,
    f.injected?.length ? JSON.stringify(f.injected) : null,
    f.bytesUp,
    f.bytesDown,
    f.ttfbMs ?? null,
    f.totalMs ?? null,
    f.requestHeaders ? JSON.stringify(f.requestHeaders) : null,
    f.responseHeaders ? JSON.stringify(f.responseHeaders) : null,
  ];
}
