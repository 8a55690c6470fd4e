/** @jsxImportSource hono/jsx */
// The auditors' web UI: server-rendered pages over the flow store (docs/ui.md). Sessions come from
// a login form (a token of web-ui/tokens.ts); every state-changing request must be same-origin
// and carry the session's CSRF token; every page has a CSP with a fresh nonce and no
// 'unsafe-inline'. This module never listens: server.ts mounts it next to the JSON API.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { getConnInfo } from '@hono/node-server/conninfo';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import type { Config } from '../policies/types.ts';
import { positiveInt, UsageError } from '../proxy/flow-filter.ts';
import type { FlowRow } from '../proxy/cli/flows.ts';
import { logEvent } from '../proxy/log.ts';
import { packageFile } from '../proxy/package-file.ts';
import type { ReloadResult } from '../proxy/reload.ts';
import type { StoreStatus } from '../proxy/store/availability.ts';
import { exportStream } from './app.ts';
import type { FlowReader, InstanceRow } from '../proxy/store/reader.ts';
import { FlowRowView, type PageContext } from './components.tsx';
import { type DlpRuleInfo, dlpRulesOf, dlpSummaryOf } from './dlp.ts';
import { explainFlow } from './explain.ts';
import { firstValues, readFilter } from './filters.tsx';
import { CaPage, type CaInfo, LoginPage, MessagePage, PolicyPage } from './pages/admin.tsx';
import { FlowPage } from './pages/flow.tsx';
import { FlowsPage } from './pages/flows.tsx';
import { FindingsPage, HostsPage } from './pages/overviews.tsx';
import { FlowPane, ReplayPage } from './pages/review.tsx';
import { loadPolicyText } from '../policies/load.ts';
import { Replay, type ReplayResult } from '../policies/replay.ts';
import { Suggest, suggestionYaml } from '../policies/suggest.ts';
import { StatsPage } from './pages/stats.tsx';
import { registerLlmRoutes } from './llm-routes.tsx';
import { FlowLlmSections } from './pages/flow-llm.tsx';
import { type Session, Sessions, sameSecret } from './sessions.ts';
import type { UiTokens } from './tokens.ts';

export interface UiOptions {
  /** The flow store, read-only (SQLite or PostgreSQL). */
  reader: FlowReader;
  tokens: UiTokens;
  sessions?: Sessions;
  /** The policy in force (explanations, the policy page). */
  config?: () => Config;
  /** Re-reads the policy file (admin). */
  reload?: () => ReloadResult;
  /** Runs retention now (admin). */
  retain?: () => Promise<{ deleted: number; bytes: number }>;
  /** The CA certificate (PEM) offered for download. */
  caCertPath?: string;
  /** DLP rules with plain-words descriptions (default: the policy's `dlp.rules`). */
  dlpRules?: () => DlpRuleInfo[];
  /** How often the live list looks for new flows (ms). */
  livePollMs?: number;
  /** The flow store's state (a banner while it cannot write). */
  storeStatus?: () => StoreStatus;
}

type Env = { Variables: { nonce: string; session?: Session; cookie?: string } };

const SESSION_COOKIE = 'airlock_session';
const LOGIN_COOKIE = 'airlock_login';
const PAGE_SIZE = 50;
/** Live lists open at once (each polls the store once a second). */
const MAX_LIVE = 32;
/** Failed logins allowed per client address and window. */
const LOGIN_FAILURES = 10;
const LOGIN_WINDOW_MS = 5 * 60_000;

const STATIC: Record<string, { file: string; type: string }> = {
  'ui.css': { file: 'web-ui/static/ui.css', type: 'text/css; charset=utf-8' },
  'ui.js': { file: 'web-ui/static/ui.js', type: 'text/javascript; charset=utf-8' },
  'icon.svg': { file: 'web-ui/static/icon.svg', type: 'image/svg+xml' },
};

/** The page CSP: scripts only with this response's nonce, styles and images from here (images also data:). */
export function pageCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "require-trusted-types-for 'script'",
    'trusted-types airlock',
  ].join('; ');
}

/** Downloads (exports, raw bodies, the CA): never rendered, never scripted. */
const DOWNLOAD_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'";

const COMMON_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  // Not no-referrer: with it, Chromium sends "Origin: null" on same-origin form posts.
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

export function createUi(opts: UiOptions): Hono<Env> {
  const sessions = opts.sessions ?? new Sessions();
  const app = new Hono<Env>();
  const assets = new Map<string, { body: Buffer; type: string; etag: string }>();
  for (const [name, a] of Object.entries(STATIC)) {
    const body = fs.readFileSync(packageFile(a.file));
    assets.set(name, { body, type: a.type, etag: `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` });
  }
  const failures = new Map<string, { n: number; until: number }>();
  let live = 0;
  const pollMs = opts.livePollMs ?? 1000;
  const config = () => opts.config?.();
  const dlp = () => opts.dlpRules?.() ?? dlpRulesOf(config());
  const dlpWords = (id: string) => dlp().find((r) => r.id === id)?.description;
  const ruleIds = () => [...(config()?.hosts ?? []), ...(config()?.deny ?? [])].map((h) => h.id);
  // The instances that wrote to the store (a filter choice, and a column once there are several);
  // read at most once every few seconds, not on every page.
  let known: { at: number; names: Promise<string[]> } | undefined;
  const instanceNames = (): Promise<string[]> => {
    if (!known || Date.now() - known.at > 5000) {
      const names = opts.reader.instances().then(
        (rows: InstanceRow[]) => rows.map((r) => r.name),
        () => [] as string[],
      );
      known = { at: Date.now(), names };
    }
    return known.names;
  };
  const ctx = (c: Context<Env>, current?: string): PageContext => ({ nonce: c.get('nonce'), session: c.get('session'), current, store: opts.storeStatus?.() });
  const html = (c: Context<Env>, page: unknown, status: 200 | 400 | 403 | 404 | 429 | 500 = 200) => c.html(`<!doctype html>${String(page)}`, status);
  const message = (c: Context<Env>, status: 400 | 403 | 404 | 429 | 500, title: string, text: string) =>
    html(c, <MessagePage ctx={ctx(c)} title={title} text={text} />, status);

  // 1. Headers on every response; the CSP nonce is made here, before any page renders.
  app.use('*', async (c, next) => {
    c.set('nonce', crypto.randomBytes(18).toString('base64'));
    await next();
    for (const [k, v] of Object.entries(COMMON_HEADERS)) c.res.headers.set(k, v);
    if (!c.res.headers.has('content-security-policy')) c.res.headers.set('content-security-policy', pageCsp(c.get('nonce')));
  });

  // 2. Cross-site requests: anything but a top-level GET navigation from another site is refused,
  //    and every state-changing request must come from this origin (Origin, else Sec-Fetch-Site).
  app.use('*', async (c, next) => {
    const site = c.req.header('sec-fetch-site');
    const safe = c.req.method === 'GET' || c.req.method === 'HEAD';
    if (safe) {
      if ((site === 'cross-site' || site === 'same-site') && c.req.header('sec-fetch-mode') !== 'navigate') {
        return message(c, 403, 'Refused', 'Cross-site request refused.');
      }
      return next();
    }
    const origin = c.req.header('origin');
    const own = new URL(c.req.url).origin;
    const sameOrigin = origin !== undefined ? origin === own : site === 'same-origin';
    if (!sameOrigin || (site !== undefined && site !== 'same-origin')) {
      return message(c, 403, 'Refused', 'Cross-site request refused: a change must come from a page of this UI.');
    }
    return next();
  });

  // Forms are small: a token, a CSRF token, a path; a candidate policy for replay is larger.
  const smallBody = bodyLimit({ maxSize: 8 * 1024, onError: (c) => c.text('request too large', 413) });
  const policyBody = bodyLimit({ maxSize: 256 * 1024, onError: (c) => c.text('the candidate policy is larger than 256 KiB', 413) });
  app.use('*', (c, next) => (c.req.path === '/replay' ? policyBody(c, next) : smallBody(c, next)));

  // 3. Static assets: no data in them, so no login needed.
  app.get('/static/:name', (c) => {
    const a = assets.get(c.req.param('name'));
    if (!a) return message(c, 404, 'Not found', 'No such file.');
    if (c.req.header('if-none-match') === a.etag) return c.body(null, 304);
    c.header('content-type', a.type);
    c.header('etag', a.etag);
    const res = c.body(new Uint8Array(a.body));
    res.headers.set('cache-control', 'no-cache');
    return res;
  });

  // 4. Login and logout.
  const clientOf = (c: Context<Env>) => {
    try {
      return getConnInfo(c).remote.address ?? 'unknown';
    } catch {
      return 'unknown';
    }
  };
  const secure = (c: Context<Env>) => new URL(c.req.url).protocol === 'https:';
  const safeNext = (n: unknown) => (typeof n === 'string' && /^\/(?![/\\])[\x21-\x7e]*$/.test(n) && !n.startsWith('/login') ? n : '/flows');

  const loginPage = (c: Context<Env>, next: string, error?: string, status: 200 | 403 | 429 = 200) => {
    const token = crypto.randomBytes(24).toString('base64url');
    setCookie(c, LOGIN_COOKIE, token, { path: '/login', httpOnly: true, sameSite: 'Strict', secure: secure(c), maxAge: 1800 });
    return html(c, <LoginPage ctx={ctx(c)} loginCsrf={token} next={next} error={error} />, status);
  };

  app.get('/login', (c) => loginPage(c, safeNext(c.req.query('next'))));

  app.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(form.next);
    const cookie = getCookie(c, LOGIN_COOKIE);
    if (!cookie || !sameSecret(typeof form.csrf === 'string' ? form.csrf : undefined, cookie)) {
      return loginPage(c, next, 'The login form expired. Try again.', 403);
    }
    const client = clientOf(c);
    const now = Date.now();
    const f = failures.get(client);
    if (f && f.until > now && f.n >= LOGIN_FAILURES) {
      c.header('retry-after', String(Math.ceil((f.until - now) / 1000)));
      return loginPage(c, next, 'Too many failed logins from this address. Wait a few minutes.', 429);
    }
    const entry = typeof form.token === 'string' && form.token.length <= 200 ? opts.tokens.verify(form.token.trim()) : undefined;
    if (!entry) {
      const cur = f && f.until > now ? f : { n: 0, until: now + LOGIN_WINDOW_MS };
      cur.n++;
      failures.set(client, cur);
      if (failures.size > 10_000) failures.clear();
      logEvent('warn', 'web UI login failed', { client });
      return loginPage(c, next, 'That token is not valid.', 403);
    }
    failures.delete(client);
    sessions.destroy(getCookie(c, SESSION_COOKIE));
    const { cookie: sid } = sessions.create(entry);
    setCookie(c, SESSION_COOKIE, sid, { path: '/', httpOnly: true, sameSite: 'Strict', secure: secure(c) });
    deleteCookie(c, LOGIN_COOKIE, { path: '/login' });
    logEvent('info', 'web UI login', { user: entry.name, role: entry.role, client });
    return c.redirect(next, 303);
  });

  // 5. Everything else needs a live session of a token still in force.
  app.use('*', async (c, next) => {
    const cookie = getCookie(c, SESSION_COOKIE);
    const s = sessions.get(cookie);
    if (!s || !opts.tokens.byHash(s.token)) {
      if (s) sessions.destroyToken(s.token);
      const url = new URL(c.req.url);
      if (c.req.method === 'GET' && url.pathname !== '/flows/live') return c.redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
      return message(c, 403, 'Not logged in', 'Log in first.');
    }
    c.set('session', s);
    c.set('cookie', cookie);
    await next();
  });

  // 6. CSRF: every state-changing request carries the session's token in its form.
  app.use('*', async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const form = (await c.req.parseBody().catch(() => ({}))) as Record<string, unknown>;
    if (!sameSecret(typeof form.csrf === 'string' ? form.csrf : undefined, c.get('session')!.csrf)) {
      return message(c, 403, 'Refused', 'The form was not from this session (missing or wrong CSRF token). Reload the page and try again.');
    }
    return next();
  });

  const adminOnly = (c: Context<Env>) => (c.get('session')!.role === 'admin' ? null : message(c, 403, 'Admins only', 'This needs the admin role.'));

  app.post('/logout', (c) => {
    sessions.destroy(c.get('cookie'));
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/login', 303);
  });

  app.get('/', (c) => c.redirect('/flows', 303));

  app.get('/flows', async (c) => {
    const q = firstValues(c.req.queries());
    const f = readFilter(q);
    const cursor: { before?: number; after?: number } = {};
    const before = cursorOf(q, 'before');
    const after = cursorOf(q, 'after');
    if (before !== undefined && after !== undefined) throw new UsageError('before and after cannot be given together');
    if (before !== undefined) cursor.before = before;
    if (after !== undefined) cursor.after = after;
    const page = await opts.reader.page(f.filter, cursor, PAGE_SIZE);
    const head = page.newer === null && cursor.before === undefined;
    const instances = await instanceNames();
    // Split view: ?flow=ID shows that flow beside the list (ui.js fills it in without a reload).
    const selected = q.flow ? await opts.reader.flow(q.flow) : undefined;
    const pane = selected ? await paneOf(selected) : undefined;
    return html(
      c,
      <FlowsPage
        ctx={ctx(c, '/flows')}
        f={f}
        page={page}
        head={head}
        maxId={await opts.reader.maxId()}
        rules={ruleIds()}
        instances={instances}
        pane={pane}
        selected={selected?.id}
      />,
      f.error ? 400 : 200,
    );
  });

  const paneOf = async (r: FlowRow) => <FlowPane r={r} why={explainFlow(r, config())} findings={await opts.reader.findings(r.id)} bodies={await opts.reader.bodies(r.id)} />;

  app.get('/flows/:id/pane', async (c) => {
    const r = await opts.reader.flow(c.req.param('id'));
    if (!r) return message(c, 404, 'No such flow', `There is no flow ${c.req.param('id')}.`);
    return c.html(String(await paneOf(r)));
  });
  const replayPage = (c: Context<Env>, candidate: string, since: string, result?: ReplayResult, problems?: string[], status: 200 | 400 = 200) =>
    html(c, <ReplayPage ctx={ctx(c, '/replay')} candidate={candidate} since={since} result={result} problems={problems} canRun={c.get('session')!.role === 'admin'} />, status);

  app.get('/replay', (c) => {
    const file = config()?.sourcePath;
    let text = '';
    try {
      if (file) text = fs.readFileSync(file, 'utf8');
    } catch {
      // no policy file to start from
    }
    return replayPage(c, text, '24h');
  });

  app.post('/replay', async (c) => {
    const denied = adminOnly(c);
    if (denied) return denied;
    const form = await c.req.parseBody();
    const candidate = typeof form.candidate === 'string' ? form.candidate : '';
    const since = typeof form.since === 'string' && form.since.trim() ? form.since.trim() : '24h';
    const f = readFilter({ since });
    if (f.error) return replayPage(c, candidate, since, undefined, [f.error], 400);
    // env: secrets stand in as set: replay never needs one, and never reads airlock's own.
    const env = new Proxy({} as NodeJS.ProcessEnv, { get: (_t, k) => (typeof k === 'string' ? 'airlock-stand-in-secret' : undefined) });
    const base = config()?.sourcePath ?? path.join(process.cwd(), 'candidate.yaml');
    const parsed = loadPolicyText(candidate, base, { env, defaultDataDir: config()?.dataDir });
    if (!parsed.ok) return replayPage(c, candidate, since, undefined, parsed.errors.map((e) => e.replace(`${base}:`, 'line ')), 400);
    const replay = new Replay(parsed.config);
    await opts.reader.eachFact(f.filter, (row) => replay.add(row));
    logEvent('info', 'web UI policy replay', { by: c.get('session')!.name, since });
    return replayPage(c, candidate, since, replay.result());
  });

  // Live list: server-sent events with rendered rows, newer than `after` (or Last-Event-ID).
  app.get('/flows/live', (c) => {
    const q = firstValues(c.req.queries());
    const f = readFilter(q);
    if (f.error) return c.text(f.error, 400);
    if (live >= MAX_LIVE) return c.text('too many live lists open', 503);
    // A browser resends the last event id itself; a bad one is ignored (it is not the user's input).
    const last = Number(c.req.header('last-event-id'));
    let after: number;
    try {
      after = Math.max(cursorOf(q, 'after') ?? 0, Number.isSafeInteger(last) ? last : 0);
    } catch (e) {
      return c.text((e as Error).message, 400);
    }
    const cookie = c.get('cookie');
    // The rows match the page's table: with the instance column when the page had one.
    const several = q.columns === 'instance';
    live++;
    let counted = true;
    const done = () => {
      if (counted) (counted = false), live--;
    };
    return streamSSE(c, async (stream) => {
      stream.onAbort(done);
      try {
        await stream.writeSSE({ event: 'hello', data: String(after), retry: 3000 });
        let quiet = 0;
        while (!stream.aborted && !stream.closed && !c.req.raw.signal.aborted) {
          const s = sessions.get(cookie, false);
          if (!s || !opts.tokens.byHash(s.token)) {
            await stream.writeSSE({ event: 'expired', data: 'log in again' });
            break;
          }
          const rows = await opts.reader.list(f.filter, { after, order: 'ASC', limit: 200 });
          if (rows.length) {
            after = rows[rows.length - 1].id;
            await stream.writeSSE({ event: 'rows', id: String(after), data: rows.map((r) => String(<FlowRowView r={r} instance={several} />)).join('') });
            quiet = 0;
            if (rows.length === 200) continue;
          } else if ((quiet += pollMs) >= 15_000) {
            await stream.write(': still here\n\n');
            quiet = 0;
          }
          await stream.sleep(pollMs);
        }
      } catch {
        // the store closed (airlock stopping) or the client went away: end the stream
      } finally {
        done();
      }
    });
  });

  app.get('/flows/:id', async (c) => {
    const r = await opts.reader.flow(c.req.param('id'));
    if (!r) return message(c, 404, 'No such flow', `There is no flow ${c.req.param('id')} (retention may have deleted it).`);
    const bodies = await opts.reader.bodies(r.id);
    return html(
      c,
      <FlowPage
        ctx={ctx(c, '/flows')}
        r={r}
        bodies={bodies}
        findings={await opts.reader.findings(r.id)}
        why={explainFlow(r, config())}
        nav={await opts.reader.neighbours(r.id)}
        dlpWords={dlpWords}
        llm={<FlowLlmSections r={r} bodies={bodies} turn={await opts.reader.llm.turnOfFlow(r.id)} mcp={await opts.reader.llm.mcpCalls(r.id)} />}
      />,
    );
  });

  app.get('/flows/:id/body/:dir', async (c) => {
    const dir = c.req.param('dir');
    const r = await opts.reader.flow(c.req.param('id'));
    const b = r && (dir === 'request' || dir === 'response') ? (await opts.reader.bodies(r.id)).find((x) => x.direction === dir) : undefined;
    if (!r || !b) return message(c, 404, 'No such body', 'This flow has no such body stored.');
    c.header('content-type', 'application/octet-stream');
    c.header('content-disposition', `attachment; filename="airlock-flow-${r.id}-${dir}.bin"`);
    c.header('content-security-policy', DOWNLOAD_CSP);
    return c.body(new Uint8Array(b.data ?? Buffer.alloc(0)));
  });

  registerLlmRoutes(app, { reader: opts.reader, config, ctx, html, message, downloadCsp: DOWNLOAD_CSP });

  app.get('/hosts', async (c) => {
    const q = firstValues(c.req.queries());
    const f = readFilter(q, { since: '24h' });
    // "Add to policy" drafts: policy suggest over the window, for the hosts the policy in force does not cover.
    let drafts: Map<string, string> | undefined;
    if (q.drafts === '1' && !f.error) {
      const s = new Suggest({ current: config() });
      await opts.reader.eachFact(f.filter, (row) => s.add(row));
      drafts = new Map();
      for (const rule of s.rules()) {
        const yaml = suggestionYaml([rule], []).replace(/^hosts:\n/, '');
        for (const h of rule.hosts) drafts.set(h, (drafts.get(h) ?? '') + yaml);
      }
    }
    return html(
      c,
      <HostsPage ctx={ctx(c, '/hosts')} f={f} rows={await opts.reader.hosts(f.filter)} config={config()} rules={ruleIds()} instances={await instanceNames()} drafts={drafts} />,
      f.error ? 400 : 200,
    );
  });

  app.get('/findings', async (c) => {
    const q = firstValues(c.req.queries());
    const f = readFilter(q);
    if (q.rule_id !== undefined && q.rule_id.length > 200) throw new UsageError('rule_id must be at most 200 characters');
    const rule = q.rule_id || undefined;
    const before = cursorOf(q, 'before');
    const o = await opts.reader.findingsOverview(f.filter, { rule, before, limit: PAGE_SIZE });
    return html(
      c,
      <FindingsPage
        ctx={ctx(c, '/findings')}
        f={f}
        rule={rule}
        rules={o.rules}
        list={o.list}
        older={o.older}
        dlpWords={dlpWords}
        policyRules={ruleIds()}
        instances={await instanceNames()}
      />,
      f.error ? 400 : 200,
    );
  });

  app.get('/stats', async (c) => {
    const f = readFilter(firstValues(c.req.queries()), { since: '1h' });
    const now = Date.now();
    const to = f.filter.until ?? now;
    const from = f.filter.since ?? (await opts.reader.firstStart(f.filter)) ?? to - 3_600_000;
    const bucketMs = bucketFor(to - from);
    // Buckets are aligned to the epoch: the first one starts at or before `from`.
    const alignedFrom = Math.floor(from / bucketMs) * bucketMs;
    const s = f.error ? null : await opts.reader.stats(f.filter, bucketMs);
    const latency = f.error ? [] : await opts.reader.latency(f.filter);
    return html(
      c,
      <StatsPage ctx={ctx(c, '/stats')} f={f} s={s} from={alignedFrom} to={to} bucketMs={bucketMs} latency={latency} rules={ruleIds()} instances={await instanceNames()} />,
      f.error ? 400 : 200,
    );
  });

  app.get('/policy', async (c) => {
    const s = c.get('session')!;
    const flash = s.flash;
    s.flash = undefined;
    let storeBytes: number | null = null;
    try {
      storeBytes = await opts.reader.size();
    } catch {
      // no store yet
    }
    return html(
      c,
      <PolicyPage ctx={ctx(c, '/policy')} config={config()} flash={flash} canReload={!!opts.reload} canRetain={!!opts.retain} storeBytes={storeBytes} dlp={dlp()} dlpSummary={dlpSummaryOf(config())} />,
    );
  });

  app.post('/policy/reload', (c) => {
    const denied = adminOnly(c);
    if (denied) return denied;
    const s = c.get('session')!;
    if (!opts.reload) return message(c, 404, 'Not available', 'This UI cannot reload the policy.');
    const r = opts.reload();
    if (r.ok) {
      const n = config()?.hosts.length ?? 0;
      s.flash = {
        ok: true,
        lines: [`Policy reloaded: ${n} host rule${n === 1 ? '' : 's'} in force.`, ...(r.restartNeeded.length ? [`Changed but needing a restart to apply: ${r.restartNeeded.join(', ')}.`] : [])],
      };
      logEvent('info', 'policy reloaded', { by: s.name, via: 'web UI', hosts: n, restart_needed: r.restartNeeded });
    } else {
      s.flash = { ok: false, lines: ['The policy file has problems; the policy in force stays:', ...r.errors] };
      logEvent('error', 'policy reload failed; the policy in force stays', { by: s.name, via: 'web UI', errors: r.errors });
    }
    return c.redirect('/policy', 303);
  });

  app.post('/retention', async (c) => {
    const denied = adminOnly(c);
    if (denied) return denied;
    const s = c.get('session')!;
    if (!opts.retain) return message(c, 404, 'Not available', 'This UI cannot run retention.');
    const r = await opts.retain();
    s.flash = { ok: true, lines: [`Retention ran: ${r.deleted} flow${r.deleted === 1 ? '' : 's'} deleted; the store now uses ${(r.bytes / 2 ** 20).toFixed(1)} MiB.`] };
    logEvent('info', 'retention run', { by: s.name, via: 'web UI', deleted: r.deleted, bytes: r.bytes });
    return c.redirect('/policy#store', 303);
  });

  app.get('/ca', (c) => html(c, <CaPage ctx={ctx(c, '/ca')} ca={caInfo(opts.caCertPath)} />));
  app.get('/ca/:file{airlock-ca\\.(pem|der)}', (c) => {
    if (!opts.caCertPath) return message(c, 404, 'Not available', 'No CA certificate here.');
    const pem = fs.readFileSync(opts.caCertPath, 'utf8');
    const der = c.req.param('file').endsWith('.der');
    c.header('content-type', der ? 'application/pkix-cert' : 'application/x-pem-file');
    c.header('content-disposition', `attachment; filename="${der ? 'airlock-ca.der' : 'airlock-ca.pem'}"`);
    c.header('content-security-policy', DOWNLOAD_CSP);
    return c.body(new Uint8Array(der ? new crypto.X509Certificate(pem).raw : Buffer.from(pem)));
  });

  // Exports: the API's streams, for the page's filter (a session instead of a bearer token).
  app.get('/export', (c) => {
    const q = firstValues(c.req.queries());
    const format = q.format === 'har' ? 'har' : q.format === 'jsonl' ? 'jsonl' : null;
    if (!format) return message(c, 400, 'Bad request', 'format must be har or jsonl.');
    const f = readFilter(q);
    if (f.error) return message(c, 400, 'Bad request', f.error);
    const filter = { ...f.filter };
    const after = cursorOf(q, 'after');
    if (after !== undefined) filter.after = after;
    const limit = q.limit ? positiveInt(q.limit, 'limit', 1) : Infinity;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    c.header('content-type', format === 'har' ? 'application/json; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
    c.header('content-disposition', `attachment; filename="airlock-flows-${stamp}.${format}"`);
    c.header('content-security-policy', DOWNLOAD_CSP);
    logEvent('info', 'web UI export', { by: c.get('session')!.name, format, filter: f.values });
    return c.body(exportStream(opts.reader, filter, format, limit));
  });

  app.notFound((c) => message(c, 404, 'Not found', 'There is no such page.'));
  app.onError((err, c) => {
    if (err instanceof UsageError) return message(c, 400, 'Bad request', err.message);
    process.stderr.write(`airlock: web UI: ${err.stack ?? err.message}\n`);
    return message(c, 500, 'Something went wrong', 'airlock could not show this page; the details are in its log.');
  });
  return app;
}

/** A page cursor (a flow or finding id) from the query; empty means none, anything else but digits is a 400. */
function cursorOf(q: Record<string, string>, name: 'before' | 'after'): number | undefined {
  const v = q[name];
  return v === undefined || v === '' ? undefined : positiveInt(v, name, 0);
}

/** Stats buckets: the smallest step that draws the window in at most 120 bars. */
export function bucketFor(spanMs: number): number {
  const steps = [60_000, 300_000, 900_000, 3_600_000, 3 * 3_600_000, 6 * 3_600_000, 12 * 3_600_000, 86_400_000, 7 * 86_400_000];
  return steps.find((s) => spanMs / s <= 120) ?? 30 * 86_400_000;
}

function caInfo(file: string | undefined): CaInfo | null {
  if (!file) return null;
  try {
    const cert = new crypto.X509Certificate(fs.readFileSync(file));
    return { subject: cert.subject.replace(/\n/g, ', '), fingerprint256: cert.fingerprint256, validFrom: cert.validFrom, validTo: cert.validTo, path: file };
  } catch {
    return null;
  }
}
