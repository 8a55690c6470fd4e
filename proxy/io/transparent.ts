// The transparent listener: iptables REDIRECTs the agent's :443 and :80 here. The first bytes say
// which: TLS is routed by its SNI, plain HTTP by its Host header, anything else is closed.
import net from 'node:net';
import { decideConnect } from '../../policies/decide.ts';
import { normalizeHost } from '../../policies/hostnames.ts';
import type { ConfigRef } from '../config-ref.ts';
import type { ConnInfo } from '../conn.ts';
import type { Pipeline } from '../pipeline.ts';
import { clientOf } from './explicit.ts';
import type { InnerServers } from './inner.ts';
import { sniff } from './sniff.ts';

/** A fatal TLS alert, access_denied (49): a clear refusal without minting a certificate. */
const ACCESS_DENIED_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31]);

export function createTransparentServer(config: ConfigRef, pipeline: Pipeline, inner: InnerServers, listener: string): net.Server {
  return net.createServer((socket) => {
    socket.on('error', () => {});
    const conn: ConnInfo = { entry: 'transparent', listener, client: clientOf(socket), tls: false };
    void route(socket, conn, config, pipeline, inner);
  });
}

async function route(socket: net.Socket, conn: ConnInfo, config: ConfigRef, pipeline: Pipeline, inner: InnerServers): Promise<void> {
  const s = await sniff(socket);
  if (s.kind === 'http') return inner.plain(socket, conn);
  if (s.kind === 'other') {
    socket.destroy();
    return pipeline.refuse(conn, 'bad_request', s.reason, 'tcp');
  }
  if (!s.serverName) {
    socket.end(ACCESS_DENIED_ALERT);
    return pipeline.refuse(conn, 'bad_request', 'TLS without a server name cannot be routed transparently', 'tls');
  }
  const n = normalizeHost(s.serverName);
  if (!n.ok) {
    socket.end(ACCESS_DENIED_ALERT);
    return pipeline.refuse(conn, 'bad_request', `TLS server name: ${n.problem}`, 'tls');
  }
  const d = decideConnect(config.current, n.host, 443, { listener: conn.listener });
  if (!d.allow) {
    socket.end(ACCESS_DENIED_ALERT);
    return pipeline.refuse(conn, d.code, d.reason, 'tls', undefined, { host: n.host, port: 443, ruleId: d.ruleId });
  }
  inner.terminate(socket, { ...conn, tls: true, pinned: { host: n.host, port: 443 } }, s.serverName);
}
