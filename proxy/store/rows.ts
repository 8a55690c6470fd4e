// A flow as a row of the flows table: column order shared by the INSERT and toRow().
import type { Flow } from '../flow.ts';
import type { LlmInfo } from '../llm.ts';

/** The flows columns airlock fills, in row order (id, hash and prev_hash are the writer's). */
export const COLUMNS = [
  'flow_id', 'started_at', 'entry', 'listener', 'client', 'agent_user', 'method', 'scheme', 'host', 'port', 'path',
  'query', 'protocol', 'status', 'decision', 'rule_id', 'code', 'reason', 'error', 'injected', 'bytes_up',
  'bytes_down', 'ttfb_ms', 'total_ms', 'request_headers', 'response_headers',
];

/**
 * Schema 4: what proxy/llm.ts reads from an LLM call's bodies, appended after COLUMNS. The hash
 * covers them only when one is non-NULL (batch.cjs hashValues), so rows from before schema 4
 * (all NULL) keep verifying.
 */
export const LLM_COLUMNS = ['llm_provider', 'llm_model', 'llm_input_tokens', 'llm_output_tokens', 'llm_stop_reason', 'llm_tools'];

/** Every column FlowStore writes, in row order. */
export const STORED_COLUMNS = [...COLUMNS, ...LLM_COLUMNS];

export const NO_LLM: readonly null[] = [null, null, null, null, null, null];

export function llmValues(i: LlmInfo | null): readonly unknown[] {
  if (!i) return NO_LLM;
  return [i.provider, i.model, i.inputTokens, i.outputTokens, i.stopReason, i.tools.length ? JSON.stringify(i.tools) : null];
}

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

/** Where in what the agent sent a finding was (proxy/dlp/stream.ts locations), as SQL on findings.location (SQLite and PostgreSQL). */
export const REQUEST_FINDING = "location LIKE 'request body%' OR location LIKE 'header:%' OR location LIKE 'url%' OR location LIKE 'query%' OR location LIKE 'websocket%'";
