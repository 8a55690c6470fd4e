// Minted tokens (OAuth2, GitHub App) shared by every worker: the supervisor keeps the latest token
// of each credential, lets one worker mint when none is fresh (the others wait for it), and hands
// the result to all. A token a worker wants replaced (ahead of expiry, or refused with a 401) is
// never handed back to it.
import type { Got } from '../../policies/secrets.ts';
import { type Minted, refreshAt } from '../credentials/minted.ts';

type Answer = { token: Got<Minted> } | { mint: true };
type Reply = (a: Answer) => void;

interface Kept {
  value: string;
  lifetimeMs: number;
  mintedAt: number;
  forced: boolean;
  proven: boolean;
}

/** `announce`: a new token for every worker but the one that minted it. */
export function createTokenShare(announce: (key: string, token: Minted, by: number) => void, now: () => number = Date.now) {
  const kept = new Map<string, Kept>();
  /** Credential -> the worker minting it now and the workers waiting for it. */
  const minting = new Map<string, { by: number; waiting: { by: number; reply: Reply }[] }>();

  return {
    acquire(key: string, stale: string | undefined, by: number, reply: Reply): void {
      const t = kept.get(key);
      const at = now();
      if (t && t.value !== stale && at < refreshAt({ mintedAt: t.mintedAt, expiresAt: t.mintedAt + t.lifetimeMs })) {
        return reply({ token: { ok: true, value: { value: t.value, lifetimeMs: t.lifetimeMs, ageMs: at - t.mintedAt, forced: t.forced, proven: t.proven } } });
      }
      const m = minting.get(key);
      if (m) return void m.waiting.push({ by, reply });
      minting.set(key, { by, waiting: [] });
      reply({ mint: true });
    },

    minted(key: string, got: Got<Minted>, forced: boolean, by: number): void {
      const m = minting.get(key);
      minting.delete(key);
      for (const w of m?.waiting ?? []) w.reply({ token: got.ok ? { ok: true, value: { ...got.value, forced } } : got });
      if (!got.ok) return;
      kept.set(key, { value: got.value.value, lifetimeMs: got.value.lifetimeMs, mintedAt: now() - (got.value.ageMs ?? 0), forced, proven: false });
      announce(key, { ...got.value, forced }, by);
    },

    /** An upstream accepted the token: true the first time (then every other worker is told). */
    proven(key: string, value: string): boolean {
      const t = kept.get(key);
      if (!t || t.value !== value || t.proven) return false;
      t.proven = true;
      return true;
    },

    /** A worker died: what it was minting goes to the next worker waiting for it. */
    gone(by: number): void {
      for (const [key, m] of minting) {
        for (const w of m.waiting.filter((x) => x.by === by)) m.waiting.splice(m.waiting.indexOf(w), 1);
        if (m.by !== by) continue;
        const next = m.waiting.shift();
        if (!next) minting.delete(key);
        else {
          m.by = next.by;
          next.reply({ mint: true });
        }
      }
    },
  };
}
