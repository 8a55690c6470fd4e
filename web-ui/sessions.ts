// Browser sessions of the web UI, in memory only (a restart logs everyone out). The cookie holds
// 32 random bytes; the store is keyed by their sha256, so the map never holds a usable cookie.
// A session ends after IDLE_MS without a request, MAX_AGE_MS after login, at logout, or when its
// token is revoked (checked by the caller on every request).
import crypto from 'node:crypto';
import type { Role } from './tokens.ts';

export const IDLE_MS = 60 * 60_000;
export const MAX_AGE_MS = 12 * 60 * 60_000;
/** Beyond this many live sessions the oldest is dropped: a login loop cannot grow memory. */
const MAX_SESSIONS = 1000;

/** A one-time message for the next page the session sees (the result of an admin action). */
export interface Flash {
  ok: boolean;
  lines: string[];
}

export interface Session {
  /** The token's sha256 (re-checked on every request, so revoking ends the session). */
  token: string;
  name: string;
  role: Role;
  /** Sent in every form; a state-changing request must carry it back. */
  csrf: string;
  created: number;
  seen: number;
  flash?: Flash;
}

export interface SessionOptions {
  idleMs?: number;
  maxAgeMs?: number;
  now?: () => number;
}

const digest = (cookie: string) => crypto.createHash('sha256').update(cookie, 'utf8').digest('base64url');

export class Sessions {
  private readonly map = new Map<string, Session>();
  private readonly idleMs: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(opts: SessionOptions = {}) {
    this.idleMs = opts.idleMs ?? IDLE_MS;
    this.maxAgeMs = opts.maxAgeMs ?? MAX_AGE_MS;
    this.now = opts.now ?? Date.now;
  }

  /** A new session; the returned cookie value is never stored. */
  create(who: { sha256: string; name: string; role: Role }): { cookie: string; session: Session } {
    this.sweep();
    while (this.map.size >= MAX_SESSIONS) this.map.delete(this.map.keys().next().value!);
    const cookie = crypto.randomBytes(32).toString('base64url');
    const t = this.now();
    const session: Session = { token: who.sha256, name: who.name, role: who.role, csrf: crypto.randomBytes(32).toString('base64url'), created: t, seen: t };
    this.map.set(digest(cookie), session);
    return { cookie, session };
  }

  /** The live session for this cookie; `touch` (default) counts the request as activity. */
  get(cookie: string | undefined, touch = true): Session | undefined {
    if (!cookie || cookie.length > 100) return undefined;
    const key = digest(cookie);
    const s = this.map.get(key);
    if (!s) return undefined;
    const t = this.now();
    if (t - s.seen > this.idleMs || t - s.created > this.maxAgeMs) {
      this.map.delete(key);
      return undefined;
    }
    if (touch) s.seen = t;
    return s;
  }

  destroy(cookie: string | undefined): void {
    if (cookie) this.map.delete(digest(cookie));
  }

  /** Ends every session of a token (it was revoked). */
  destroyToken(sha256: string): void {
    for (const [k, s] of this.map) if (s.token === sha256) this.map.delete(k);
  }

  get size(): number {
    return this.map.size;
  }

  sweep(): void {
    const t = this.now();
    for (const [k, s] of this.map) if (t - s.seen > this.idleMs || t - s.created > this.maxAgeMs) this.map.delete(k);
  }
}

/** Constant-time comparison of two short strings (CSRF tokens). */
export function sameSecret(a: string | undefined, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = crypto.createHash('sha256').update(a).digest();
  const y = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(x, y);
}
