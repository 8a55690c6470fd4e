// A request Node's strict HTTP parser rejected: answer 400, close, and record it.
import type { Duplex } from 'node:stream';
import { connOf } from '../conn.ts';
import type { Pipeline } from '../pipeline.ts';
import { writeRawRefusal } from '../respond.ts';

export function badRequest(pipeline: Pipeline, err: Error & { code?: string }, socket: Duplex): void {
  const conn = connOf(socket);
  if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
  const reason = `malformed HTTP request (${err.code ?? err.message})`;
  writeRawRefusal(socket, 400, { error: 'bad_request', reason });
  if (conn) pipeline.refuse(conn, 'bad_request', reason, 'h1', 400);
}
