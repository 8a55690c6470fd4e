// The admin listener (listen.admin): /healthz and /metrics for operators and supervisors. It is a
// listener of its own, never an upstream: the proxy refuses to dial any of airlock's own listeners.
import http from 'node:http';
import type { Metrics } from '../metrics.ts';

export interface Health {
  /** 200 when true, 503 when false. */
  ok: boolean;
  /** ok, degraded (served, but something is wrong: see detail), unavailable. */
  status?: string;
  detail: Record<string, unknown>;
}

export function createAdminServer(metrics: Metrics, health: () => Health): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      const h = health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ status: h.status ?? (h.ok ? 'ok' : 'unavailable'), ...h.detail }));
      return;
    }
    if (path === '/metrics') {
      metrics.render().then(
        ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('airlock admin: /healthz, /metrics\n');
  });
}
