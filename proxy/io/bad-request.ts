// A request Node's strict HTTP parser rejected (or timed out): answer, close, and record it.
// Framing is never repaired: Node's llhttp runs strict (insecureHTTPParser is never enabled).
import type { Duplex } from 'node:stream';
import type { Limits } from '../../policies/types.ts';
import type net from 'node:net';
import { connOf, endsAs } from '../conn.ts';
import { closing } from '../limits.ts';
import type { Pipeline } from '../pipeline.ts';
import { writeRawRefusal } from '../respond.ts';

/** Status, stable code and plain reason for a Node client error. */
export function describeClientError(err: Error & { code?: string; reason?: string }, limits?: Limits): { status: number; code: string; reason: string } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'headers_too_large', reason: `the request line and headers exceed limits.max_header_bytes${limits ? ` (${limits.maxHeaderBytes})` : ''}` };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'header_timeout', reason: `the request headers did not arrive within limits.header_timeout${limits ? ` (${limits.headerTimeoutMs / 1000}s)` : ''}` };
    case 'HPE_PAUSED_H2_UPGRADE':
      return { status: 400, code: 'bad_request', reason: 'HTTP/2 connection preface on an HTTP/1 connection (prior-knowledge h2c is not proxied)' };
    default:
      return { status: 400, code: 'bad_request', reason: `malformed HTTP request (${err.code ?? 'error'}${err.reason ? `: ${err.reason}` : ''})` };
  }
}

export function badRequest(pipeline: Pipeline, err: Error & { code?: string; reason?: string }, socket: Duplex, limits?: Limits): void {
  const conn = connOf(socket);
  if (closing.has(socket)) return; // already answered (a refused request) and closing
  // TLS itself broke (a forged record): nothing can be answered; agent-tls.ts says what happened.
  if (err.code?.startsWith('ERR_SSL_')) return void socket.destroy();
  // The agent went away (a reset, or its FIN in the middle of a request head): nobody to answer.
  // If no flow names the connection yet, it is recorded as it closes (guard.ts).
  if (err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
    // Node reports a FIN inside a message as HPE_INVALID_EOF_STATE (an empty connection just ends).
    const started = err.code === 'HPE_INVALID_EOF_STATE' || (socket as net.Socket).bytesRead > 0;
    const how = err.code === 'ECONNRESET' ? 'reset' : 'closed';
    if (conn) endsAs(conn, 'client_closed', `the agent ${how} the connection ${started ? 'in the middle of a request' : 'before sending a request'}`, 'h1');
    return void socket.destroy();
  }
  closing.add(socket);
  const d = describeClientError(err, limits);
  writeRawRefusal(socket, d.status, { error: d.code, reason: d.reason });
  if (conn) pipeline.refuse(conn, d.code, d.reason, 'h1', d.status);
}
