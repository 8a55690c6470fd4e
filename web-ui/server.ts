// The web UI's listener: the Hono app (app.ts) on a plain node http server, bound by proxy/io/listen.ts
// like every other listener, so stopAccepting()/close() behave the same. The store is opened
// read-only on the first request and closed with the server.
import http from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type Database from 'better-sqlite3';
import { openStore } from '../proxy/flows-cli.ts';
import { createApi } from './app.ts';

export function createUiServer(opts: { storePath: string; tokenHash: string }): http.Server {
  let db: Database.Database | undefined;
  const app = createApi({ db: () => (db ??= openStore(opts.storePath)), tokenHash: opts.tokenHash });
  // overrideGlobalObjects: false keeps the process's global Request/Response (undici) untouched.
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 60_000 }, getRequestListener(app.fetch, { overrideGlobalObjects: false }));
  server.on('close', () => {
    db?.close();
    db = undefined;
  });
  return server;
}
