// The explicit proxy (HTTP_PROXY / HTTPS_PROXY): absolute-form HTTP requests and CONNECT tunnels.
import http from 'node:http';
import type net from 'node:net';
import { decideConnect } from '../../policies/decide.ts';
import { reportThrough } from '../../policies/report.ts';
import { normalizeHost, splitAuthority } from '../../policies/hostnames.ts';
import type { ConfigRef } from '../config-ref.ts';
import { agentUser } from '../agent-user.ts';
import { attachConn, connOf, type ConnInfo, newConn } from '../conn.ts';
import type { Pipeline } from '../pipeline.ts';
import { writeRawRefusal } from '../respond.ts';
import { CA_PAGE_HOST } from '../ca-page.ts';
import { clientKey, MintBudget } from '../limits.ts';
import { badRequest } from './bad-request.ts';
import { applyServerLimits, type Guard, httpServerOptions } from './guard.ts';
import type { InnerServers } from './inner.ts';
import { sniff } from './sniff.ts';

export function createExplicitServer(config: ConfigRef, pipeline: Pipeline, inner: InnerServers, guard: Guard, listener: string): http.Server {
  const server = http.createServer(httpServerOptions(guard.limits));
  const explainBudget = new MintBudget(() => config.current.explainInTls.perMinute);
  applyServerLimits(server, guard.limits, true);
  server.on('connection', (socket: net.Socket) => {
    const conn = newConn(socket, { entry: 'explicit', listener });
    attachConn(socket, conn);
    guard.admitConnection(socket, conn);
  });
  server.on('request', guard.request);
  server.on('upgrade', guard.upgrade);
  server.on('clientError', (err, socket) => badRequest(pipeline, err, socket, guard.limits));
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const base = connOf(socket)!;
    const conn: ConnInfo = { ...base, agentUser: agentUser(req.headers['proxy-authorization']) ?? base.agentUser };
    socket.on('error', () => {});
    // RFC 9110 9.3.6: CONNECT names host and port; a missing port is not guessed.
    const a = splitAuthority(req.url ?? '', null);
    if (!a.ok) {
      const reason = `CONNECT target: ${a.problem}`;
      writeRawRefusal(socket, 400, { error: 'bad_request', reason });
      return pipeline.refuse(conn, 'bad_request', reason, 'tcp', 400, { method: 'CONNECT' });
    }
    // The CA page's reserved name (proxy/ca-page.ts) is always reachable; nothing is forwarded there.
    const policy = config.current; // one policy for this decision; each request in the tunnel takes its own
    const d = a.host === CA_PAGE_HOST ? null : decideConnect(policy, a.host, a.port, { user: conn.agentUser, listener: conn.listener });
    // Report mode admits the tunnel; each request in it is decided (and recorded as would_deny) on its own.
    if (d && !d.allow && !reportThrough(policy, d, a.host)) {
      pipeline.refuse(conn, d.code, d.reason, 'tcp', 403, { method: 'CONNECT', host: a.host, port: a.port, ruleId: d.ruleId });
      // explain_in_tls: the tunnel is accepted and its requests get the refusal inside TLS (docs/policy.md).
      if (d.code !== 'bad_request' && policy.explainInTls.enabled && explainBudget.take(clientKey(socket))) {
        conn.explain = { code: d.code, reason: d.reason, rule: d.ruleId, hint: d.hint };
      } else {
        // Refused before any TLS: no leaf is minted for a host the policy does not name.
        return writeRawRefusal(socket, 403, { error: d.code, host: a.host, reason: d.reason, rule: d.ruleId, hint: d.hint });
      }
    }
    conn.pinned = { host: a.host, port: a.port };
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) socket.unshift(head);
    void tunnel(socket, conn, pipeline, inner, guard);
  });
  return server;
}

/** Inside a CONNECT tunnel: TLS (terminated with a leaf for the pinned host) or plain HTTP. */
async function tunnel(socket: net.Socket, conn: ConnInfo, pipeline: Pipeline, inner: InnerServers, guard: Guard): Promise<void> {
  const s = await sniff(socket, guard.limits.headerTimeoutMs);
  const pinned = conn.pinned!;
  if (s.kind === 'tls') {
    const sni = s.serverName === undefined ? undefined : normalizeHost(s.serverName);
    if (sni && (!sni.ok || sni.host !== pinned.host)) {
      const reason = `TLS server name ${JSON.stringify(s.serverName)} differs from the CONNECT host ${pinned.host}`;
      socket.destroy();
      return pipeline.refuse(conn, 'host_mismatch', reason, 'tls');
    }
    return inner.terminate(socket, { ...conn, tls: true });
  }
  if (s.kind === 'http') return inner.plain(socket, conn);
  socket.destroy();
  pipeline.refuse(conn, s.code, s.code === 'bad_request' ? `tunnel carried neither TLS nor HTTP: ${s.reason}` : `CONNECT tunnel: ${s.reason}`, 'tcp');
}
