// What stands between an agent-facing server and the pipeline: the per-client connection limit,
// the request gate (proxy/limits.ts) and the slow-body watch. Every refusal is answered and
// recorded as a flow with its reason.
import type http from 'node:http';
import type http2 from 'node:http2';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Limits } from '../../policies/types.ts';
import type { ConfigRef } from '../config-ref.ts';
import { connOf, type ConnInfo } from '../conn.ts';
import { agentFaultStatus } from '../errors.ts';
import type { Flow } from '../flow.ts';
import { watchBody } from '../body-watch.ts';
import { closing, ConnectionCounter, gateRequest, MintBudget, type MintGate } from '../limits.ts';
import type { Pipeline } from '../pipeline.ts';
import { type AnyResponse, sendRefusal, writeRawRefusal } from '../respond.ts';

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;

export interface Guard {
  readonly limits: Limits;
  /**
   * First thing on every new agent connection: false when the client is over its limit (closed and
   * recorded). Otherwise the socket counts against the client until it closes, and if it closes
   * with no flow naming it, it is recorded then (conn.life.end: the agent gave up, and where).
   */
  admitConnection(socket: net.Socket, conn: ConnInfo): boolean;
  /** Agent connections open now: from one client address (its IP), or from all. */
  openConnections(client?: string): number;
  /** Takes a new leaf certificate from the client's budget; false when it is spent. */
  mintBudget: MintGate;
  request(req: AnyRequest, res: AnyResponse): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
}

/** `mintGate`: the leaf-mint budget workers share (proxy/workers/); default: this process's own. */
export function createGuard(config: ConfigRef, pipeline: Pipeline, mintGate?: MintGate): Guard {
  // Limits are fixed at start (restart to change them), like the listeners they shape.
  const limits = config.current.limits;
  const counter = new ConnectionCounter(() => limits.maxConnectionsPerClient);
  const mintBudget = mintGate ?? new MintBudget(() => limits.leafMintsPerMinute);

  function refusedFields(req: AnyRequest): Partial<Flow> {
    const url = (req.httpVersionMajor === 2 ? (req.headers[':path'] as string | undefined) : req.url) ?? '';
    return { method: req.method, path: url.length > 512 ? `${url.slice(0, 512)}…` : url };
  }

  return {
    limits,
    mintBudget,
    admitConnection(socket, conn) {
      if (counter.admit(socket)) {
        socket.once('close', () => {
          const end = conn.life.end;
          // At shutdown airlock closes the connections itself: nobody gave up.
          if (!conn.life.recorded && !pipeline.stopping()) pipeline.refuse(end.conn, end.code, end.reason, end.protocol);
        });
        return true;
      }
      socket.on('error', () => {});
      socket.destroy();
      pipeline.refuse(conn, 'connection_limit', `more than limits.max_connections_per_client (${limits.maxConnectionsPerClient}) open connections from this client`, 'tcp');
      return false;
    },
    openConnections: (client) => (client === undefined ? counter.total() : counter.count(client)),
    request(req, res) {
      const h1 = req.httpVersionMajor !== 2;
      if (h1 && closing.has(req.socket)) return void req.socket.destroy();
      const conn = connOf(req.socket);
      const g = gateRequest(req, limits, false);
      if (g) {
        if (g.close && h1) {
          (res as http.ServerResponse).shouldKeepAlive = false;
          closing.add(req.socket);
          res.once('finish', () => req.socket.destroy());
        }
        sendRefusal(res, g.status, { error: g.code, reason: g.reason });
        if (!g.close) req.resume();
        if (conn) pipeline.refuse(conn, g.code, g.reason, h1 ? 'h1' : 'h2', g.status, refusedFields(req));
        return;
      }
      if (hasBody(req)) {
        watchBody(req, limits, (err) => {
          if (req.httpVersionMajor !== 2) {
            // The rest of this body is never read as a request: the connection ends with the answer.
            (res as http.ServerResponse).shouldKeepAlive = false;
            closing.add(req.socket);
          }
          // The pipeline reads the body through an async iterator: the error ends it, and the
          // request's own flow is recorded with this code (408).
          if (req.listenerCount('error') > 0) return void req.emit('error', err);
          const status = agentFaultStatus(err.code);
          sendRefusal(res, status, { error: err.code, reason: err.message });
          req.destroy();
          if (conn) pipeline.refuse(conn, err.code, err.message, req.httpVersionMajor === 2 ? 'h2' : 'h1', status, refusedFields(req));
        });
      }
      // Node emits the request as soon as its headers are parsed; a body whose framing is broken in
      // the same packet (a bad chunk size) fails a moment later. Waiting one turn lets that
      // refusal win, so the upstream never sees the start of such a request.
      if (h1 && hasBody(req)) {
        setImmediate(() => {
          if (closing.has(req.socket) || req.socket.destroyed) return;
          pipeline.handle(req, res);
        });
      } else pipeline.handle(req, res);
    },
    upgrade(req, socket, head) {
      if (closing.has(req.socket)) return void socket.destroy();
      const g = gateRequest(req, limits, true);
      if (g) {
        socket.on('error', () => {});
        writeRawRefusal(socket, g.status, { error: g.code, reason: g.reason });
        const conn = connOf(req.socket);
        if (conn) pipeline.refuse(conn, g.code, g.reason, 'h1', g.status, refusedFields(req));
        return;
      }
      pipeline.upgrade(req, socket, head);
    },
  };
}

function hasBody(req: AnyRequest): boolean {
  if (req.httpVersionMajor === 2) return !(req as http2.Http2ServerRequest).stream.endAfterHeaders;
  const h = req.headers;
  return h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
}

/** Node http.Server options for a server that reads agent requests. */
export function httpServerOptions(limits: Limits): http.ServerOptions {
  return {
    requireHostHeader: false,
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headerTimeoutMs,
    requestTimeout: 0, // the whole request may take long (big uploads); slow bodies are watched instead
    keepAliveTimeout: limits.idleTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, limits.headerTimeoutMs),
  };
}

/**
 * Applies the limits to a server, and starts Node's header-timeout checks on a server that never
 * listens (sockets are handed to it): Node starts them on 'listening'.
 */
export function applyServerLimits(server: http.Server | http2.Http2SecureServer, limits: Limits, listens: boolean): void {
  const s = server as http.Server;
  // Node silently drops headers past maxHeadersCount; one more than the limit lets the gate see and refuse it.
  s.maxHeadersCount = limits.maxHeaders + 1;
  // Set as properties too: the HTTP/2 server's HTTP/1.1 side ignores these options (Node 20 hard-codes 60 s).
  const o = httpServerOptions(limits);
  Object.assign(s, { headersTimeout: o.headersTimeout, requestTimeout: o.requestTimeout, keepAliveTimeout: o.keepAliveTimeout, connectionsCheckingInterval: o.connectionsCheckingInterval });
  if (!listens) server.emit('listening');
}
