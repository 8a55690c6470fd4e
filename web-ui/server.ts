// The web UI's listener: the JSON API (app.ts, bearer tokens) under /api/ and the browser UI
// (ui.tsx, login sessions) everywhere else, on a plain node http server bound by
// proxy/io/listen.ts like every other listener, so stopAccepting()/close() behave the same. The
// store is opened read-only on the first request and closed with the server.
import http from 'node:http';
import { isIP } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type Database from 'better-sqlite3';
import type { Config } from '../policies/types.ts';
import { openStore } from '../proxy/cli/flows.ts';
import type { ReloadResult } from '../proxy/reload.ts';
import type { StoreStatus } from '../proxy/store/availability.ts';
import { createApi } from './app.ts';
import type { DlpRuleInfo } from './dlp.ts';
import { Sessions } from './sessions.ts';
import { UiTokens } from './tokens.ts';
import { createUi } from './ui.tsx';

export interface UiServerOptions {
  storePath: string;
  /** Where ui-token.sha256 and ui-tokens.json are (re-read when they change). */
  dataDir: string;
  config?: () => Config;
  reload?: () => ReloadResult;
  retain?: () => Promise<{ deleted: number; bytes: number }>;
  caCertPath?: string;
  dlpRules?: () => DlpRuleInfo[];
  /** The flow store's state (a banner on every page while it cannot write). */
  storeStatus?: () => StoreStatus;
  /** Registers what to run when the store file was deleted under airlock: the UI closes its connection (and reopens it on the next request). */
  onStoreReopen?: (close: () => void) => void;
}

/**
 * IP literals and localhost: any other name is one someone else may control (DNS rebinding). A
 * reverse proxy in front of the UI passes Host as the listener's address.
 */
export function hostAllowed(host: string | null): boolean {
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  const lower = name.toLowerCase().replace(/\.$/, '');
  return isIP(lower) !== 0 || lower === 'localhost';
}

export function createUiServer(opts: UiServerOptions): http.Server {
  let db: Database.Database | undefined;
  let closed = false;
  const store = () => {
    if (closed) throw new Error('the web UI is closing');
    return (db ??= openStore(opts.storePath));
  };
  opts.onStoreReopen?.(() => {
    db?.close();
    db = undefined;
  });
  const tokens = new UiTokens(opts.dataDir);
  const sessions = new Sessions();
  const api = createApi({ db: store, tokens });
  const ui = createUi({ ...opts, db: store, tokens, sessions });
  const fetch = (req: Request, env: unknown) => {
    // DNS rebinding: a page on evil.example whose name now resolves to this listener is refused.
    if (!hostAllowed(req.headers.get('host'))) {
      return new Response('The airlock web UI answers only to an IP address or localhost (docs/ui.md).\n', { status: 421, headers: { 'content-type': 'text/plain' } });
    }
    const path = new URL(req.url).pathname;
    return path === '/api' || path.startsWith('/api/') ? api.fetch(req, env) : ui.fetch(req, env);
  };
  // overrideGlobalObjects: false keeps the process's global Request/Response (undici) untouched.
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 60_000 }, getRequestListener(fetch, { overrideGlobalObjects: false }));
  const sweep = setInterval(() => sessions.sweep(), 60_000).unref();
  server.on('close', () => {
    closed = true;
    clearInterval(sweep);
    db?.close();
    db = undefined;
  });
  return server;
}
