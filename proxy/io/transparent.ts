// The transparent listener: iptables REDIRECTs the agent's :443 and :80 here. The first bytes say
// which: TLS is routed by its SNI, plain HTTP by its Host header, anything else is closed.
import net from 'node:net';
import { decideConnect } from '../../policies/decide.ts';
import { reportThrough } from '../../policies/report.ts';
import { normalizeHost } from '../../policies/hostnames.ts';
import type { ConfigRef } from '../config-ref.ts';
import { type ConnInfo, newConn } from '../conn.ts';
import type { Pipeline } from '../pipeline.ts';
import type { Guard } from './guard.ts';
import { denyTls, type InnerServers } from './inner.ts';
import { sniff } from './sniff.ts';
import { clientKey, MintBudget } from '../limits.ts';

export function createTransparentServer(config: ConfigRef, pipeline: Pipeline, inner: InnerServers, guard: Guard, listener: string): net.Server {
  const explainBudget = new MintBudget(() => config.current.explainInTls.perMinute);
  return net.createServer((socket) => {
    socket.on('error', () => {});
    const conn = newConn(socket, { entry: 'transparent', listener });
    if (!guard.admitConnection(socket, conn)) return;
    void route(socket, conn, config, pipeline, inner, guard, explainBudget);
  });
}

async function route(socket: net.Socket, conn: ConnInfo, config: ConfigRef, pipeline: Pipeline, inner: InnerServers, guard: Guard, explainBudget: MintBudget): Promise<void> {
  const s = await sniff(socket, guard.limits.headerTimeoutMs);
  if (s.kind === 'http') return inner.plain(socket, conn);
  if (s.kind === 'other') {
    socket.destroy();
    return pipeline.refuse(conn, s.code, s.reason, 'tcp');
  }
  if (!s.serverName) {
    denyTls(socket);
    return pipeline.refuse(conn, 'bad_request', 'TLS without a server name cannot be routed transparently', 'tls');
  }
  const n = normalizeHost(s.serverName);
  if (!n.ok) {
    denyTls(socket);
    return pipeline.refuse(conn, 'bad_request', `TLS server name: ${n.problem}`, 'tls');
  }
  const policy = config.current; // one policy for this decision; each request inside takes its own
  const d = decideConnect(policy, n.host, 443, { listener: conn.listener });
  let explain: ConnInfo['explain'];
  if (!d.allow && !reportThrough(policy, d, n.host)) {
    pipeline.refuse(conn, d.code, d.reason, 'tls', undefined, { host: n.host, port: 443, ruleId: d.ruleId });
    // explain_in_tls: the handshake completes and each request gets the refusal inside TLS.
    if (!policy.explainInTls.enabled || !explainBudget.take(clientKey(socket))) return denyTls(socket);
    explain = { code: d.code, reason: d.reason, rule: d.ruleId, hint: d.hint };
  }
  inner.terminate(socket, { ...conn, tls: true, pinned: { host: n.host, port: 443 }, ...(explain ? { explain } : {}) });
}
