// MintedToken on a clock the test moves: one mint shared by every request, a refresh in the
// background ahead of expiry (requests keep the old token meanwhile), a wait only once it expired,
// one mint after a 401, no mint storm when every token is refused, failures held for a moment.
import { describe, expect, it } from 'vitest';
import type { Got } from '../../policies/secrets.ts';
import { type Minted, MintedToken } from '../../proxy/credentials/minted.ts';

function setup(lifetimeMs = 600_000) {
  const clock = { now: 1_000_000 };
  const minted: string[] = [];
  let fail: string | null = null;
  const token = new MintedToken(async (): Promise<Got<Minted>> => {
    if (fail) return { ok: false, problem: fail };
    minted.push(`t${minted.length + 1}`);
    return { ok: true, value: { value: minted.at(-1)!, lifetimeMs } };
  }, () => clock.now);
  const value = async () => {
    const got = await token.current();
    return got.ok ? got.value.value : `problem: ${got.problem}`;
  };
  return { clock, minted, token, value, failWith: (p: string | null) => (fail = p) };
}

describe('MintedToken', () => {
  it('mints once for many requests, concurrent ones included', async () => {
    const t = setup();
    expect(await Promise.all([t.value(), t.value(), t.value()])).toEqual(['t1', 't1', 't1']);
    expect(t.token.current()).toMatchObject({ ok: true }); // at hand now: no promise
    expect(t.minted).toEqual(['t1']);
  });

  it('refreshes in the background ahead of expiry, and waits only after it expired', async () => {
    const t = setup(600_000); // 10 min: refreshed from 2.5 min (a quarter) before expiry, used until 30 s before
    await t.value();
    t.clock.now += 4 * 60_000;
    expect(t.token.current()).toMatchObject({ ok: true, value: { value: 't1' } });
    expect(t.minted).toEqual(['t1']);
    t.clock.now += 4 * 60_000; // 8 min: in the refresh window
    const served = t.token.current();
    expect(served).toMatchObject({ ok: true, value: { value: 't1' } }); // no wait
    await new Promise((r) => setImmediate(r));
    expect(t.minted).toEqual(['t1', 't2']);
    expect(await t.value()).toBe('t2');
    t.clock.now += 10 * 60_000; // t2 expired
    const waiting = t.token.current();
    expect(waiting).toBeInstanceOf(Promise);
    expect(await t.value()).toBe('t3');
  });

  it('after a 401: one new token; a fresh token refused again is kept (no storm) until something accepted it', async () => {
    const t = setup();
    await t.value();
    expect(t.token.invalidate('t1')).toBe(true);
    expect(await t.value()).toBe('t2');
    expect(t.token.invalidate('t2')).toBe(false); // minted for a 401, never accepted, seconds old
    expect(await t.value()).toBe('t2');
    t.token.confirm('t2');
    expect(t.token.invalidate('t2')).toBe(true); // it worked once: this refusal is news
    expect(await t.value()).toBe('t3');
    expect(t.token.invalidate('t1')).toBe(true); // an old token: already replaced, nothing to do
    expect(t.minted).toEqual(['t1', 't2', 't3']);
  });

  it('a failed mint is answered for a second without asking again, then tried again', async () => {
    const t = setup();
    t.failWith('the token endpoint answered 500');
    expect(await t.value()).toBe('problem: the token endpoint answered 500');
    t.failWith(null);
    expect(await t.value()).toBe('problem: the token endpoint answered 500');
    t.clock.now += 1500;
    expect(await t.value()).toBe('t1');
  });

  it('keeps every token that may still be valid for scrubbing, and forgets expired ones', async () => {
    const t = setup(600_000);
    await t.value();
    t.token.invalidate('t1');
    await t.value();
    expect(t.token.values()).toEqual(['t2', 't1']);
    const v = t.token.version;
    t.clock.now += 11 * 60_000;
    expect(t.token.values()).toEqual([]);
    expect(t.token.version).toBeGreaterThan(v);
  });
});
