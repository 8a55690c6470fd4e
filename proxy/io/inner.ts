// Servers that never listen: sockets airlock has already accepted (and peeked at) are handed to
// them. TLS is terminated by airlock (agent-tls.ts) with a leaf for the admitted host; the secured
// socket goes to one HTTP/2-capable server (HTTP/1.1 too), cleartext to one plain HTTP server.
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import type { LeafMinter } from '../../ca/leaf-cache.ts';
import { attachConn, connOf, type ConnInfo, endsAs } from '../conn.ts';
import { clientKey } from '../limits.ts';
import type { Pipeline } from '../pipeline.ts';
import { endSocket } from '../respond.ts';
import { acceptTls } from './agent-tls.ts';
import { badRequest } from './bad-request.ts';
import { applyServerLimits, type Guard, httpServerOptions } from './guard.ts';

/** A fatal TLS alert, access_denied (49): a clear refusal without minting a certificate. */
export const ACCESS_DENIED_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31]);

/** Sends the alert and closes (the socket was paused by sniff(): endSocket reads on to see the FIN). */
export function denyTls(socket: net.Socket): void {
  endSocket(socket, ACCESS_DENIED_ALERT);
}

export interface InnerServers {
  /** TLS to the agent with a leaf for conn.pinned.host. */
  terminate(socket: net.Socket, conn: ConnInfo): void;
  plain(socket: net.Socket, conn: ConnInfo): void;
}

export function createInnerServers(minter: LeafMinter, pipeline: Pipeline, guard: Guard): InnerServers {
  const { limits } = guard;
  // Gets sockets already secured (its own TLS options are unused: the leaf's context carries the
  // versions and ciphers, ca/leaf-cache.ts).
  const tlsServer = http2.createSecureServer({
    allowHTTP1: true,
    // HTTP/2: bounded streams and header lists (nghttp2 also caps CONTINUATION frames per header block).
    settings: { maxConcurrentStreams: limits.h2MaxConcurrentStreams, maxHeaderListSize: limits.maxHeaderBytes },
    maxHeaderListPairs: limits.maxHeaders + 8, // + pseudo-headers; the gate refuses more than max_headers
    maxSessionRejectedStreams: 100,
    maxSessionInvalidFrames: 100,
    ...httpServerOptions(limits), // the HTTP/1.1 side of the same server
  } as http2.SecureServerOptions);
  applyServerLimits(tlsServer, limits, false);
  tlsServer.on('request', guard.request);
  tlsServer.on('upgrade', guard.upgrade);
  // HTTP/1.1 inside TLS: parser errors and header timeouts, answered and recorded like the plain ones.
  tlsServer.on('clientError', (err: Error, socket: net.Socket) => badRequest(pipeline, err, socket, limits));
  tlsServer.on('session', (session: http2.ServerHttp2Session) => watchSession(session, pipeline, limits.idleTimeoutMs));

  const plainServer = http.createServer(httpServerOptions(limits));
  applyServerLimits(plainServer, limits, false);
  plainServer.on('request', guard.request);
  plainServer.on('upgrade', guard.upgrade);
  plainServer.on('clientError', (err, socket) => badRequest(pipeline, err, socket, limits));

  const servers: InnerServers = {
    terminate(socket, conn) {
      attachConn(socket, conn);
      const host = conn.pinned!.host;
      // A leaf not yet minted costs the client one from its budget (a flood of new names stops here).
      const allowed = minter.has(host) || guard.mintBudget.take(clientKey(socket));
      if (allowed === true) return secure(socket, conn, host);
      if (allowed === false) return refuseMint(socket, conn, host);
      // Workers share the budget: the supervisor answers (a mint is rare: leaves are cached).
      void allowed.then((yes) => {
        if (socket.destroyed) return;
        if (yes) secure(socket, conn, host);
        else refuseMint(socket, conn, host);
      });
    },
    plain(socket, conn) {
      attachConn(socket, conn);
      endsAs(conn, 'client_closed', 'the agent closed the connection before completing a request', 'tcp');
      plainServer.emit('connection', socket);
      socket.resume(); // sniff() paused it; the bytes it peeked are waiting in its buffer
    },
  };
  return servers;

  function refuseMint(socket: net.Socket, conn: ConnInfo, host: string): void {
    denyTls(socket);
    pipeline.refuse(conn, 'leaf_mint_limit', `more than limits.leaf_mints_per_minute (${limits.leafMintsPerMinute}) new host names from this client`, 'tls', undefined, {
      host,
      port: conn.pinned!.port,
    });
  }

  function secure(socket: net.Socket, conn: ConnInfo, host: string): void {
    // The name (when the agent sent one) was checked against the policy and the CONNECT
    // authority before the handshake: the leaf is for the host the connection was admitted for.
    acceptTls(socket, conn, { context: minter.secureContext(host), server: tlsServer, timeoutMs: limits.tlsHandshakeTimeoutMs }, (secured) =>
      tlsServer.emit('secureConnection', secured),
    );
  }
}

/**
 * An HTTP/2 connection: closed (GOAWAY) after limits.idle_timeout without an open stream; a
 * protocol violation (stream or CONTINUATION flood, oversized header list) is recorded.
 */
function watchSession(session: http2.ServerHttp2Session, pipeline: Pipeline, idleMs: number): void {
  let open = 0;
  let streams = 0;
  session.on('stream', (stream) => {
    open++;
    streams++;
    stream.once('close', () => open--);
  });
  session.setTimeout(idleMs, () => {
    if (open > 0) return;
    const conn = connOf(session.socket);
    if (conn && streams === 0) endsAs(conn, 'idle_timeout', `no request within ${idleMs / 1000}s of the TLS handshake (limits.idle_timeout)`, 'h2');
    session.close();
  });
  const record = (why: string) => {
    const conn = connOf(session.socket);
    if (conn) pipeline.refuse(conn, 'h2_protocol_error', why, 'h2');
  };
  session.on('error', (err: Error & { code?: string }) => record(`HTTP/2 session error: ${err.code ?? ''} ${err.message}`.trim()));
}
