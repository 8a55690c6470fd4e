// The policy's store section (on_unavailable, min_free), the first-start policy with its
// store.retention.max_bytes, and the store's availability state (availability.ts) on its own.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parsePolicy } from '../../policies/parse.ts';
import type { Config } from '../../policies/types.ts';
import { firstPolicy } from '../../proxy/cli/first-policy.ts';
import { packageFile } from '../../proxy/package-file.ts';
import { type StoreEvent, StoreAvailability } from '../../proxy/store/availability.ts';
import { classify, floorOf } from '../../proxy/store/space.ts';
import { loadPolicyFile } from '../../policies/load.ts';
import { tempDir } from '../helpers/airlock.ts';

const opts = { baseDir: '/etc/airlock', env: {}, defaultDataDir: '/tmp/airlock' };
const base = 'listen: { proxy: 127.0.0.1:8080 }\n';
const store = (yaml: string): Config['store'] => {
  const r = parsePolicy(parse(`${base}store: ${yaml}`), opts);
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.config.store;
};
const errors = (yaml: string) => {
  const r = parsePolicy(parse(`${base}store: ${yaml}`), opts);
  return r.ok ? [] : r.errors;
};

describe('store.on_unavailable and store.min_free', () => {
  it('default to refuse and the automatic floor; read both', () => {
    expect(store('{}')).toMatchObject({ onUnavailable: 'refuse', minFree: {} });
    expect(store('{ on_unavailable: serve, min_free: 2GiB }')).toMatchObject({ onUnavailable: 'serve', minFree: { bytes: 2 * 1024 ** 3 } });
    expect(store('{ min_free: "10%" }').minFree).toEqual({ percent: 10 });
    expect(store('{ min_free: "0.5%" }').minFree).toEqual({ percent: 0.5 });
    expect(store('{ min_free: 0 }').minFree).toEqual({ bytes: 0 });
  });

  it.each([
    ['unknown action', '{ on_unavailable: halt }', ['store.on_unavailable: expected "refuse" (answer 503 until the store writes again) or "serve" (serve unrecorded), not "halt"']],
    ['not a string', '{ on_unavailable: true }', ['store.on_unavailable: expected "refuse" (answer 503 until the store writes again) or "serve" (serve unrecorded), not true']],
    ['bad size', '{ min_free: lots }', ['store.min_free: expected a size like "500MiB", "10GiB", "2GB" or a number of bytes, or a share of the file system like "5%"']],
    ['share of 100%', '{ min_free: "100%" }', ['store.min_free: 100% is not a share of the file system from 0% to under 100%']],
    ['negative share', '{ min_free: "-1%" }', ['store.min_free: -1% is not a share of the file system from 0% to under 100%']],
    ['the old name', '{ on_full: refuse }', ['store.on_full: unknown key']],
  ])('%s', (_, yaml, expected) => {
    expect(errors(yaml)).toEqual(expected);
  });

  it('the floor: 1 GiB or 5 % of the file system, whichever is smaller, unless the policy says', () => {
    const fsOf = (bytes: number) => ({ blocks: bytes / 4096, bsize: 4096 });
    expect(floorOf(fsOf(500 * 1024 ** 3))).toBe(1024 ** 3);
    expect(floorOf(fsOf(10 * 1024 ** 3))).toBe(Math.floor(10 * 1024 ** 3 * 0.05));
    expect(floorOf(fsOf(10 * 1024 ** 3), { bytes: 123 })).toBe(123);
    expect(floorOf(fsOf(10 * 1024 ** 3), { percent: 1 })).toBe(Math.floor(10 * 1024 ** 3 * 0.01));
  });
});

describe('the first-start policy', () => {
  it('is the commented example with max_bytes set to half the free space, and loads', () => {
    const dir = tempDir();
    const template = fs.readFileSync(packageFile('policies/default-policy.yaml'), 'utf8');
    const s = fs.statfsSync(dir);
    const written = firstPolicy(template, dir, new Date('2025-03-04T00:00:00Z'));
    const m = /^ {4}max_bytes: (\d+)(GiB|MiB) {3}# 50% of the (\d+)(GiB|MiB) free at first start \(2025-03-04\)$/m.exec(written)!;
    expect(m).not.toBeNull();
    const unit = (u: string) => (u === 'GiB' ? 1024 ** 3 : 1024 ** 2);
    const cap = Number(m[1]) * unit(m[2]);
    const free = s.bavail * s.bsize;
    // Rounded down, never above half.
    expect(cap).toBeLessThanOrEqual(free / 2);
    expect(cap).toBeGreaterThan(free / 2 - unit(m[2]) - 1024 ** 2);
    // Only that line differs from the example.
    expect(written.split('\n').filter((l, i) => l !== template.split('\n')[i])).toEqual([m[0]]);
    fs.writeFileSync(path.join(dir, 'policy.yaml'), written);
    const r = loadPolicyFile(path.join(dir, 'policy.yaml'), { env: {} });
    expect(r.ok && r.config.store).toMatchObject({ retention: { maxBytes: cap }, onUnavailable: 'refuse', minFree: {} });
  });
});

describe('the store availability state', () => {
  const make = (mode: 'refuse' | 'serve') => {
    const events: StoreEvent[] = [];
    let backlog = 0;
    const a = new StoreAvailability(mode, (e) => events.push(e), () => backlog);
    return { a, events, setBacklog: (n: number) => (backlog = n) };
  };

  it('one event per change, not per failure; refusal only in refuse mode, with a Retry-After that follows the probe backoff', () => {
    const { a, events, setBacklog } = make('refuse');
    expect(a.refusal()).toBeNull();
    setBacklog(3);
    a.writeFailed({ kind: 'full', message: 'database or disk is full' });
    a.writeFailed({ kind: 'full', message: 'database or disk is full' });
    a.unavailable({ kind: 'full', message: 'still' });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ level: 'error', fields: { kind: 'full', backlog: 3, on_unavailable: 'refuse' } });
    expect(a.failures.get('full')).toBe(2);
    expect(a.refusal()).toEqual({ reason: expect.stringContaining("(the disk of airlock's flow store is full)"), retryAfterS: 1 });
    // 250 ms, 500, 1 s, 2 s, 4 s, then 5 s at most.
    expect([1, 2, 3, 4, 5, 6, 7].map(() => a.nextProbeDelay())).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
    expect(a.refusal()!.retryAfterS).toBe(5);
    // A different problem is a change too.
    a.unavailable({ kind: 'readonly', message: 'EROFS' });
    expect(events).toHaveLength(2);
    expect(events[1].fields).toMatchObject({ kind: 'readonly', changed: true });
    a.drop('backlog_full', 200);
    a.drop('backlog_full', 200);
    expect(events).toHaveLength(3);
    a.recovered(10);
    expect(events[3]).toMatchObject({ level: 'info', fields: { backlog_written: 10, dropped: 400 } });
    expect(a.ok).toBe(true);
    expect(a.status()).toEqual({ state: 'ok', on_unavailable: 'refuse', backlog: 3, dropped: { backlog_full: 400 } });
  });

  it('serve mode never refuses, and says so in its event', () => {
    const { a, events } = make('serve');
    a.writeFailed({ kind: 'io', message: 'disk I/O error' });
    expect(a.refusal()).toBeNull();
    expect(events[0].msg).toMatch(/SERVING REQUESTS UNRECORDED/);
    expect(a.status()).toMatchObject({ state: 'unavailable', kind: 'io', reason: 'disk I/O error', on_unavailable: 'serve' });
  });

  it('tells a failing store (retried later) from a batch SQLite refuses (written flow by flow, never retried)', () => {
    const err = (code: string, message = code) => Object.assign(new Error(message), { code });
    expect(classify(err('SQLITE_FULL', 'database or disk is full'))).toEqual({ kind: 'full', message: 'database or disk is full' });
    expect(classify(err('ENOSPC'))?.kind).toBe('full');
    expect(classify(err('SQLITE_IOERR_WRITE'))?.kind).toBe('io');
    expect(classify(err('SQLITE_CORRUPT'))?.kind).toBe('io');
    expect(classify(err('EIO'))?.kind).toBe('io');
    expect(classify(err('SQLITE_READONLY_DBMOVED'))?.kind).toBe('readonly');
    expect(classify(err('EROFS'))?.kind).toBe('readonly');
    expect(classify(err('SQLITE_BUSY'))?.kind).toBe('busy');
    expect(classify(err('SQLITE_CONSTRAINT_UNIQUE'))).toBeNull();
    expect(classify(new TypeError('x is not a function'))).toBeNull();
  });
});
