// memory-watch.ts: when external memory grows past its slack, V8 is asked for a mark-compact,
// and dead promoted body buffers no longer pile up to V8's own 64 MB margin.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { processMemoryWatch, watchExternalMemory } from '../../proxy/memory-watch.ts';
import { startTestAirlock } from '../helpers/airlock.ts';

/** Runs the watch over scripted readings, one per tick; resolves with the ticks that collected. */
async function ticks(readings: number[], slackBytes: number): Promise<number[]> {
  let i = 0;
  const collected: number[] = [];
  await new Promise<void>((resolve) => {
    const watch = watchExternalMemory(() => collected.push(i - 1), {
      slackBytes,
      intervalMs: 1,
      read: () => {
        if (i >= readings.length) {
          watch.stop();
          setImmediate(resolve);
          return readings[readings.length - 1];
        }
        return readings[i++];
      },
    });
  });
  return collected;
}

describe('the external memory watch', () => {
  it('asks once growth passes the slack, then only after as much more', async () => {
    // The first reading is the floor; ticks read the rest.
    expect(await ticks([10, 12, 20, 27, 30, 36, 38], 10)).toEqual([3, 6]);
  });

  it('measures growth from the lowest point since it last asked', async () => {
    // Down to 5 (a collection freed memory): 16 is past 5 + 10, where 30 + 10 would not be.
    expect(await ticks([30, 41, 5, 9, 16], 10)).toEqual([1, 4]);
  });

  it('stays quiet while memory stays within the slack', async () => {
    expect(await ticks([10, 19, 15, 20, 11, 20], 10)).toEqual([]);
  });

  it("keeps promoted dead buffers far below V8's own 64 MB margin (real V8, the native addon)", () => {
    const run = (mode: 'watch' | 'off') => {
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', '--max-semi-space-size=1', '--v8-pool-size=1', '--initial-old-space-size=32', path.join(__dirname, '../fixtures/memory/promoted-garbage.ts'), mode],
        { encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { maxMB: number; requested: number };
    };
    // Without the watch the garbage reaches what V8 lets pile up (the fixture makes 200 MB of it).
    const off = run('off');
    expect(off.maxMB).toBeGreaterThan(56);
    const on = run('watch');
    expect(on.requested).toBeGreaterThan(0);
    expect(on.maxMB).toBeLessThan(44);
  });

  it('is started by airlock itself', async () => {
    expect(processMemoryWatch()).toBeUndefined();
    const airlock = await startTestAirlock('listen:\n  proxy: 127.0.0.1:0\nhosts: []\n');
    try {
      expect(processMemoryWatch()).toBeDefined();
    } finally {
      await airlock.close();
    }
  });
});
