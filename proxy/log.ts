// JSON lines on stdout: one canonical line per flow, plus operational events. Lines are batched
// and written once per tick, so logging costs one write per burst rather than one per flow.
import type { Flow } from './flow.ts';

let pending: string[] = [];
let scheduled = false;

function emit(line: string): void {
  pending.push(line);
  if (scheduled) return;
  scheduled = true;
  setImmediate(flushLog);
}

export function flushLog(): void {
  scheduled = false;
  if (pending.length === 0) return;
  const text = pending.join('\n') + '\n';
  pending = [];
  process.stdout.write(text);
}

export function logEvent(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  emit(JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields }));
}

/** The canonical line for a flow: what happened, to whom, and why. Headers stay in the store. */
export function logFlow(f: Flow): void {
  emit(
    JSON.stringify({
      ts: new Date(f.startedAt).toISOString(),
      level: 'info',
      msg: 'flow',
      id: f.id,
      entry: f.entry,
      listener: f.listener,
      client: f.client,
      agent: f.agentUser,
      method: f.method,
      scheme: f.scheme,
      host: f.host,
      port: f.port,
      path: f.path,
      protocol: f.protocol,
      status: f.status,
      decision: f.decision,
      rule: f.ruleId,
      code: f.code,
      reason: f.reason,
      injected: f.injected?.length ? f.injected : undefined,
      bytes_up: f.bytesUp,
      bytes_down: f.bytesDown,
      ttfb_ms: f.ttfbMs,
      total_ms: f.totalMs,
    }),
  );
}
