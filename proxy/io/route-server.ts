// A base-URL route: a listener bound to one upstream origin (ANTHROPIC_BASE_URL=http://airlock:9000).
import http from 'node:http';
import type net from 'node:net';
import type { Route } from '../../policies/types.ts';
import { attachConn } from '../conn.ts';
import type { Pipeline } from '../pipeline.ts';
import { badRequest } from './bad-request.ts';
import { clientOf } from './explicit.ts';

export function createRouteServer(route: Route, pipeline: Pipeline, listener: string): http.Server {
  const server = http.createServer({ requireHostHeader: false });
  server.on('connection', (socket: net.Socket) => {
    attachConn(socket, { entry: 'route', listener, client: clientOf(socket), tls: false, route });
  });
  server.on('request', pipeline.handle);
  server.on('upgrade', pipeline.upgrade);
  server.on('clientError', (err, socket) => badRequest(pipeline, err, socket));
  return server;
}
