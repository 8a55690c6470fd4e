// Servers that never listen: sockets airlock has already accepted (and peeked at) are handed to
// them. One HTTP/2-capable TLS server terminates TLS for every admitted host, one plain HTTP
// server reads cleartext requests.
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';
import { AGENT_CIPHERS, type LeafMinter } from '../../ca/leaf-cache.ts';
import { normalizeHost } from '../../policies/hostnames.ts';
import { attachConn, connOf, type ConnInfo } from '../conn.ts';
import { clientKey } from '../limits.ts';
import type { Pipeline } from '../pipeline.ts';
import { badRequest } from './bad-request.ts';
import { applyServerLimits, type Guard, httpServerOptions } from './guard.ts';

/** A fatal TLS alert, access_denied (49): a clear refusal without minting a certificate. */
export const ACCESS_DENIED_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31]);

/**
 * Sends the alert and closes. The socket was paused by sniff(): a half-close alone would wait
 * for a FIN nobody reads, and the socket (and its count against the client's limit) would leak.
 */
export function denyTls(socket: net.Socket): void {
  socket.end(ACCESS_DENIED_ALERT, () => socket.destroy());
}

export interface InnerServers {
  /** TLS to the agent with a leaf for conn.pinned.host; `sni` is the name the ClientHello carried. */
  terminate(socket: net.Socket, conn: ConnInfo, sni: string | undefined): void;
  plain(socket: net.Socket, conn: ConnInfo): void;
}

export function createInnerServers(minter: LeafMinter, pipeline: Pipeline, guard: Guard): InnerServers {
  const { limits } = guard;
  const tlsServer = http2.createSecureServer({
    allowHTTP1: true,
    minVersion: 'TLSv1.2',
    // The cipher list is the initial context's (SNICallback swaps only the certificate).
    ciphers: AGENT_CIPHERS,
    honorCipherOrder: true,
    handshakeTimeout: limits.headerTimeoutMs,
    // HTTP/2: bounded streams and header lists (nghttp2 also caps CONTINUATION frames per header block).
    settings: { maxConcurrentStreams: limits.h2MaxConcurrentStreams, maxHeaderListSize: limits.maxHeaderBytes },
    maxHeaderListPairs: limits.maxHeaders + 8, // + pseudo-headers; the gate refuses more than max_headers
    maxSessionRejectedStreams: 100,
    maxSessionInvalidFrames: 100,
    // The name was checked against the policy and the CONNECT authority before the handshake.
    SNICallback(servername, cb) {
      const n = normalizeHost(servername);
      if (!n.ok) return cb(new Error(n.problem), undefined);
      cb(null, minter.secureContext(n.host));
    },
    ...httpServerOptions(limits), // the HTTP/1.1 side of the same server
  } as http2.SecureServerOptions);
  applyServerLimits(tlsServer, limits, false);
  tlsServer.on('request', guard.request);
  tlsServer.on('upgrade', guard.upgrade);
  // HTTP/1.1 inside TLS: parser errors and header timeouts, answered and recorded like the plain ones.
  tlsServer.on('clientError', (err: Error, socket: net.Socket) => badRequest(pipeline, err, socket, limits));
  tlsServer.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
    const conn = connOf(socket);
    if (conn) pipeline.refuse(conn, 'agent_tls', `TLS handshake with the agent failed: ${err.message}`, 'tls');
  });
  tlsServer.on('session', (session: http2.ServerHttp2Session) => watchSession(session, pipeline, limits.idleTimeoutMs));

  const plainServer = http.createServer(httpServerOptions(limits));
  applyServerLimits(plainServer, limits, false);
  plainServer.on('request', guard.request);
  plainServer.on('upgrade', guard.upgrade);
  plainServer.on('clientError', (err, socket) => badRequest(pipeline, err, socket, limits));

  // Without SNI Node never consults SNICallback, so such a connection gets its own TLS socket
  // (HTTP/1.1 only) with the leaf for the admitted host.
  const noSniServer = http.createServer(httpServerOptions(limits));
  applyServerLimits(noSniServer, limits, false);
  noSniServer.on('request', guard.request);
  noSniServer.on('upgrade', guard.upgrade);
  noSniServer.on('clientError', (err, socket) => badRequest(pipeline, err, socket, limits));

  return {
    terminate(socket, conn, sni) {
      attachConn(socket, conn);
      const host = conn.pinned!.host;
      // A leaf not yet minted costs the client one from its budget (a flood of new names stops here).
      if (!minter.has(host) && !guard.mintBudget.take(clientKey(socket))) {
        denyTls(socket);
        return pipeline.refuse(conn, 'leaf_mint_limit', `more than limits.leaf_mints_per_minute (${limits.leafMintsPerMinute}) new host names from this client`, 'tls', undefined, {
          host,
          port: conn.pinned!.port,
        });
      }
      if (sni) return void tlsServer.emit('connection', socket);
      const secure = new tls.TLSSocket(socket, {
        isServer: true,
        secureContext: minter.secureContext(host),
        ALPNProtocols: ['http/1.1'],
      });
      attachConn(secure, conn);
      const timer = setTimeout(() => secure.destroy(new Error(`no TLS handshake within ${limits.headerTimeoutMs / 1000}s (limits.header_timeout)`)), limits.headerTimeoutMs);
      secure.on('error', (err) => {
        clearTimeout(timer);
        pipeline.refuse(conn, 'agent_tls', `TLS handshake with the agent failed: ${err.message}`, 'tls');
      });
      secure.once('secure', () => {
        clearTimeout(timer);
        noSniServer.emit('connection', secure);
      });
    },
    plain(socket, conn) {
      attachConn(socket, conn);
      plainServer.emit('connection', socket);
      socket.resume(); // sniff() paused it; the bytes it peeked are waiting in its buffer
    },
  };
}

/**
 * An HTTP/2 connection: closed (GOAWAY) after limits.idle_timeout without an open stream; a
 * protocol violation (stream or CONTINUATION flood, oversized header list) is recorded.
 */
function watchSession(session: http2.ServerHttp2Session, pipeline: Pipeline, idleMs: number): void {
  let open = 0;
  session.on('stream', (stream) => {
    open++;
    stream.once('close', () => open--);
  });
  session.setTimeout(idleMs, () => {
    if (open === 0) session.close();
  });
  const record = (why: string) => {
    const conn = connOf(session.socket);
    if (conn) pipeline.refuse(conn, 'h2_protocol_error', why, 'h2');
  };
  session.on('error', (err: Error & { code?: string }) => record(`HTTP/2 session error: ${err.code ?? ''} ${err.message}`.trim()));
}
