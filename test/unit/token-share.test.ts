// The supervisor's side of minted tokens shared by workers (proxy/workers/token-share.ts).
import { describe, expect, it } from 'vitest';
import { createTokenShare } from '../../proxy/workers/token-share.ts';

type Answer = Parameters<Parameters<ReturnType<typeof createTokenShare>['acquire']>[3]>[0];

function setup() {
  let now = 1_000_000;
  const announced: [string, string, number][] = [];
  const share = createTokenShare((key, token, by) => announced.push([key, token.value, by]), () => now);
  const ask = (stale: string | undefined, by: number) => {
    const answers: Answer[] = [];
    share.acquire('k', stale, by, (a) => answers.push(a));
    return answers;
  };
  return { share, ask, announced, tick: (ms: number) => (now += ms) };
}

const token = (value: string, lifetimeMs = 3_600_000) => ({ ok: true as const, value: { value, lifetimeMs } });

describe('tokens minted once for every worker', () => {
  it('the first worker mints; the others wait for its token and every other worker is told', () => {
    const { share, ask, announced } = setup();
    const first = ask(undefined, 1);
    const second = ask(undefined, 2);
    expect(first).toEqual([{ mint: true }]);
    expect(second).toEqual([]);
    share.minted('k', token('T1'), false, 1);
    expect(second).toEqual([{ token: { ok: true, value: { value: 'T1', lifetimeMs: 3_600_000, forced: false } } }]);
    expect(announced).toEqual([['k', 'T1', 1]]);
    // Later askers get the kept token, with its age.
    expect(ask(undefined, 3)).toEqual([{ token: { ok: true, value: expect.objectContaining({ value: 'T1', ageMs: 0, proven: false }) } }]);
  });

  it('a worker that wants its token replaced (401 or refresh) never gets it back', () => {
    const { share, ask } = setup();
    ask(undefined, 1);
    share.minted('k', token('T1'), false, 1);
    expect(ask('T1', 2)).toEqual([{ mint: true }]);
    share.minted('k', token('T2'), true, 2);
    // Another worker still on T1 moves to T2 without a new mint.
    expect(ask('T1', 1)).toEqual([{ token: { ok: true, value: expect.objectContaining({ value: 'T2', forced: true }) } }]);
  });

  it('a token in the last quarter of its life is minted again; a failed mint is not kept', () => {
    const { share, ask, tick } = setup();
    ask(undefined, 1);
    share.minted('k', token('T1', 60_000), false, 1);
    tick(46_000);
    expect(ask(undefined, 2)).toEqual([{ mint: true }]);
    const waiting = ask(undefined, 3);
    share.minted('k', { ok: false, problem: 'token endpoint down' }, false, 2);
    expect(waiting).toEqual([{ token: { ok: false, problem: 'token endpoint down' } }]);
    expect(ask(undefined, 3)).toEqual([{ mint: true }]);
  });

  it('a worker that dies while minting hands the mint to the next worker waiting', () => {
    const { share, ask } = setup();
    ask(undefined, 1);
    const waiting = ask(undefined, 2);
    share.gone(1);
    expect(waiting).toEqual([{ mint: true }]);
  });

  it('the first acceptance of a token is news once', () => {
    const { share, ask } = setup();
    ask(undefined, 1);
    share.minted('k', token('T1'), true, 1);
    expect(share.proven('k', 'T1')).toBe(true);
    expect(share.proven('k', 'T1')).toBe(false);
    expect(share.proven('k', 'T0')).toBe(false);
  });
});
