// A base-URL route: a listener bound to one upstream origin (ANTHROPIC_BASE_URL=http://airlock:9000).
import http from 'node:http';
import type net from 'node:net';
import type { Route } from '../../policies/types.ts';
import { attachConn, newConn } from '../conn.ts';
import type { Pipeline } from '../pipeline.ts';
import { badRequest } from './bad-request.ts';
import { applyServerLimits, type Guard, httpServerOptions } from './guard.ts';

export function createRouteServer(route: Route, pipeline: Pipeline, guard: Guard, listener: string): http.Server {
  const server = http.createServer(httpServerOptions(guard.limits));
  applyServerLimits(server, guard.limits, true);
  server.on('connection', (socket: net.Socket) => {
    const conn = newConn(socket, { entry: 'route', listener, route });
    attachConn(socket, conn);
    guard.admitConnection(socket, conn);
  });
  server.on('request', guard.request);
  server.on('upgrade', guard.upgrade);
  server.on('clientError', (err, socket) => badRequest(pipeline, err, socket, guard.limits));
  return server;
}
