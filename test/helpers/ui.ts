// Talking to the web UI the way a browser does, without one: the login form, its cookies, the
// CSRF token of the session's forms.
import { request } from 'undici';

export interface UiResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export async function uiRequest(url: string, init: { method?: string; headers?: Record<string, string>; form?: Record<string, string> } = {}): Promise<UiResponse> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | undefined;
  if (init.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(init.form).toString();
  }
  const r = await request(url, { method: (init.method ?? (init.form ? 'POST' : 'GET')) as 'GET', headers, body });
  return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
}

export function cookieOf(r: UiResponse, name: string): string | undefined {
  const all = ([] as string[]).concat(r.headers['set-cookie'] ?? []);
  const line = all.find((c) => c.startsWith(`${name}=`));
  return line?.split(';')[0].slice(name.length + 1);
}

export function setCookieLine(r: UiResponse, name: string): string | undefined {
  return ([] as string[]).concat(r.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${name}=`));
}

/** The value of the first hidden csrf field on a page. */
export function csrfOf(html: string): string {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no csrf field on the page');
  return m[1];
}

export interface UiSession {
  /** "airlock_session=..." for a Cookie header. */
  cookie: string;
  csrf: string;
  base: string;
}

/** Logs in with a token through the form; returns the session cookie and the session's CSRF token. */
export async function uiLogin(base: string, token: string): Promise<UiSession> {
  const form = await uiRequest(`${base}/login`);
  const login = cookieOf(form, 'airlock_login')!;
  const r = await uiRequest(`${base}/login`, {
    headers: { cookie: `airlock_login=${login}`, origin: base, 'sec-fetch-site': 'same-origin' },
    form: { csrf: csrfOf(form.text), token, next: '/flows' },
  });
  if (r.status !== 303) throw new Error(`login failed: ${r.status} ${r.text.slice(0, 200)}`);
  const cookie = `airlock_session=${cookieOf(r, 'airlock_session')}`;
  const page = await uiRequest(`${base}/flows`, { headers: { cookie } });
  return { cookie, csrf: csrfOf(page.text), base };
}

/** A GET with the session. */
export function uiGet(s: UiSession, path: string, headers: Record<string, string> = {}): Promise<UiResponse> {
  return uiRequest(`${s.base}${path}`, { headers: { cookie: s.cookie, ...headers } });
}

/** A same-origin form POST with the session and (unless overridden) its CSRF token. */
export function uiPost(s: UiSession, path: string, form: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<UiResponse> {
  return uiRequest(`${s.base}${path}`, {
    headers: { cookie: s.cookie, origin: s.base, 'sec-fetch-site': 'same-origin', ...headers },
    form: { csrf: s.csrf, ...form },
  });
}
