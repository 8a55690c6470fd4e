// Servers that never listen: sockets airlock has already accepted (and peeked at) are handed to
// them. One HTTP/2-capable TLS server terminates TLS for every admitted host, one plain HTTP
// server reads cleartext requests.
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';
import type { LeafMinter } from '../../ca/leaf-cache.ts';
import { normalizeHost } from '../../policies/hostnames.ts';
import { attachConn, connOf, type ConnInfo } from '../conn.ts';
import type { Pipeline } from '../pipeline.ts';
import { badRequest } from './bad-request.ts';

export interface InnerServers {
  /** TLS to the agent with a leaf for conn.pinned.host; `sni` is the name the ClientHello carried. */
  terminate(socket: net.Socket, conn: ConnInfo, sni: string | undefined): void;
  plain(socket: net.Socket, conn: ConnInfo): void;
}

export function createInnerServers(minter: LeafMinter, pipeline: Pipeline): InnerServers {
  const tlsServer = http2.createSecureServer({
    allowHTTP1: true,
    minVersion: 'TLSv1.2',
    // The name was checked against the policy and the CONNECT authority before the handshake.
    SNICallback(servername, cb) {
      const n = normalizeHost(servername);
      if (!n.ok) return cb(new Error(n.problem), undefined);
      cb(null, minter.secureContext(n.host));
    },
  });
  tlsServer.on('request', pipeline.handle);
  tlsServer.on('upgrade', pipeline.upgrade);
  tlsServer.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
    const conn = connOf(socket);
    if (conn) pipeline.refuse(conn, 'agent_tls', `TLS handshake with the agent failed: ${err.message}`, 'tls');
  });

  const plainServer = http.createServer({ requireHostHeader: false });
  plainServer.on('request', pipeline.handle);
  plainServer.on('upgrade', pipeline.upgrade);
  plainServer.on('clientError', (err, socket) => badRequest(pipeline, err, socket));

  // Without SNI Node never consults SNICallback, so such a connection gets its own TLS socket
  // (HTTP/1.1 only) with the leaf for the admitted host.
  const noSniServer = http.createServer({ requireHostHeader: false });
  noSniServer.on('request', pipeline.handle);
  noSniServer.on('upgrade', pipeline.upgrade);
  noSniServer.on('clientError', (err, socket) => badRequest(pipeline, err, socket));

  return {
    terminate(socket, conn, sni) {
      attachConn(socket, conn);
      if (sni) return void tlsServer.emit('connection', socket);
      const secure = new tls.TLSSocket(socket, {
        isServer: true,
        secureContext: minter.secureContext(conn.pinned!.host),
        ALPNProtocols: ['http/1.1'],
      });
      attachConn(secure, conn);
      secure.on('error', (err) => pipeline.refuse(conn, 'agent_tls', `TLS handshake with the agent failed: ${err.message}`, 'tls'));
      secure.once('secure', () => noSniServer.emit('connection', secure));
    },
    plain(socket, conn) {
      attachConn(socket, conn);
      plainServer.emit('connection', socket);
      socket.resume(); // sniff() paused it; the bytes it peeked are waiting in its buffer

    },
  };
}
