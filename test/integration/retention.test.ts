// store.retention: the writer thread deletes the oldest flows past max_age, then until the store
// fits in max_bytes; bodies and index rows go with them, and the hash chain still verifies.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { BodyCapture } from '../../proxy/capture.ts';
import { newFlow, type Flow } from '../../proxy/flow.ts';
import { verifyChain } from '../../proxy/store/verify.ts';
import { FlowStore, type FlowStoreOptions } from '../../proxy/store/writer.ts';
import { runFlows } from '../../proxy/cli/flows.ts';
import { tempDir } from '../helpers/airlock.ts';

const open: FlowStore[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

function newStore(opts: FlowStoreOptions): { store: FlowStore; file: string } {
  const file = path.join(tempDir(), 'flows.sqlite');
  const store = new FlowStore(file, opts);
  open.push(store);
  return { store, file };
}

/** A flow with a request and a response body of `size` random (incompressible) bytes. */
function flowWithBodies(host: string, startedAt: number, size: number): Flow {
  const flow = newFlow({ entry: 'explicit', listener: 'l', client: 'c', host, path: '/p', method: 'POST', startedAt });
  const request = new BodyCapture(size);
  request.add(crypto.randomBytes(size));
  const response = new BodyCapture(size);
  response.add(crypto.randomBytes(size));
  flow.requestHeaders = { 'content-type': 'application/octet-stream' };
  flow.responseHeaders = { 'content-type': 'text/plain' };
  flow.bodies = { request, response, echo: null };
  return flow;
}

const count = (db: Database.Database, sql: string) => (db.prepare(sql).pluck().get() as number) ?? 0;

async function verifyCli(file: string): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await runFlows(['verify', '--db', file], { out: (t) => void (out += t), err: (t) => void (out += t) });
  return { code, out };
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('store retention', () => {
  it('deletes flows older than max_age with their bodies and index rows, on the timer', async () => {
    const { store, file } = newStore({ retention: { maxAgeMs: 3_600_000 }, retentionIntervalMs: 100 });
    const old = Date.now() - 2 * 3_600_000;
    for (let i = 0; i < 30; i++) store.record(flowWithBodies(`old${i}.test`, old + i, 1000));
    for (let i = 0; i < 5; i++) store.record(flowWithBodies(`new${i}.test`, Date.now(), 1000));
    await store.flush();
    expect(count(store.db, 'SELECT count(*) FROM flows')).toBe(35);
    expect(count(store.db, 'SELECT count(*) FROM bodies')).toBe(70);

    await until(() => count(store.db, 'SELECT count(*) FROM flows') === 5);
    expect(count(store.db, "SELECT count(*) FROM flows WHERE host LIKE 'old%'")).toBe(0);
    expect(count(store.db, 'SELECT count(*) FROM bodies')).toBe(10);
    expect(count(store.db, 'SELECT count(*) FROM bodies WHERE flow_id NOT IN (SELECT id FROM flows)')).toBe(0);
    // The full-text index forgot them too.
    expect(count(store.db, `SELECT count(*) FROM flows_fts WHERE flows_fts MATCH '"old0"'`)).toBe(0);
    expect(count(store.db, `SELECT count(*) FROM flows_fts WHERE flows_fts MATCH '"new0"'`)).toBe(1);
    // The run reports when it has finished (after its last step and a WAL checkpoint), a moment after the rows are gone.
    await until(() => store.stats.retentionDeleted === 30);

    expect(verifyChain(store.db)).toMatchObject({ ok: true, verified: 5, startsAfterDeleted: 31 });
    await store.close();
    open.length = 0;
    const r = await verifyCli(file);
    expect(r.code).toBe(0);
    expect(r.out).toContain('ok: 5 flows verified');
    expect(r.out).toContain('note: the chain starts at flow 31');
  });

  it('shrinks a store over max_bytes below it, oldest first, and the chain still verifies', async () => {
    const maxBytes = 2 * 1024 * 1024;
    // The store outgrew the cap before the cap was set (a policy that adds max_bytes to an old store).
    const file = path.join(tempDir(), 'flows.sqlite');
    const uncapped = new FlowStore(file);
    expect(uncapped.db.pragma('auto_vacuum', { simple: true })).toBe(2); // INCREMENTAL for a new store
    for (let i = 0; i < 200; i++) uncapped.record(flowWithBodies(`h${i}.test`, Date.now(), 16 * 1024));
    await uncapped.close();
    // A long interval: the test runs retention itself (the first run after start may come first).
    const store = new FlowStore(file, { retention: { maxBytes }, retentionIntervalMs: 3_600_000 });
    open.push(store);
    const size = () => {
      const pages = store.db.pragma('page_count', { simple: true }) as number;
      const free = store.db.pragma('freelist_count', { simple: true }) as number;
      return (pages - free) * (store.db.pragma('page_size', { simple: true }) as number);
    };
    expect(size()).toBeGreaterThan(3 * maxBytes);

    const r = await store.enforceRetention();
    const deleted = store.stats.retentionDeleted;
    expect(deleted).toBeGreaterThan(100);
    expect(r.bytes).toBeLessThanOrEqual(maxBytes);
    expect(size()).toBeLessThanOrEqual(maxBytes);
    const left = count(store.db, 'SELECT count(*) FROM flows');
    expect(left).toBe(200 - deleted);
    // The newest flows are the ones kept.
    expect(count(store.db, 'SELECT min(id) FROM flows')).toBe(deleted + 1);
    expect(count(store.db, "SELECT count(*) FROM flows WHERE host = 'h199.test'")).toBe(1);
    expect(count(store.db, 'SELECT count(*) FROM bodies')).toBe(2 * left);

    // Writing goes on after retention: the chain continues from the newest flow.
    for (let i = 0; i < 10; i++) store.record(flowWithBodies(`after${i}.test`, Date.now(), 100));
    await store.flush();
    expect(verifyChain(store.db)).toMatchObject({ ok: true, verified: left + 10, startsAfterDeleted: deleted + 1 });
    await store.close();
    open.length = 0;
    // incremental_vacuum gave the pages back: the file itself is near the cap too (WAL checkpointed on close).
    expect(fs.statSync(file).size).toBeLessThan(maxBytes + 512 * 1024);
    const v = await verifyCli(file);
    expect(v.code).toBe(0);
  });

  it('keeps a growing store under max_bytes between timer runs: retention starts when a write takes it over', async () => {
    const maxBytes = 2 * 1024 * 1024;
    // The timer would not run during this test: only the growth check can hold the cap.
    const { store } = newStore({ retention: { maxBytes }, retentionIntervalMs: 3_600_000 });
    const used = () => {
      const pages = store.db.pragma('page_count', { simple: true }) as number;
      const free = store.db.pragma('freelist_count', { simple: true }) as number;
      return (pages - free) * (store.db.pragma('page_size', { simple: true }) as number);
    };
    let peak = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 20; i++) store.record(flowWithBodies(`g${round}-${i}.test`, Date.now(), 16 * 1024));
      await store.flush();
      // A run the last write started finishes before the next round is measured.
      await until(() => used() <= maxBytes + 20 * 2 * 16 * 1024 + 512 * 1024);
      peak = Math.max(peak, used());
    }
    // 400 flows of 32 KiB bodies: 12 MiB written, never more than the cap plus one batch kept.
    expect(store.stats.written).toBe(400);
    expect(store.stats.retentionDeleted).toBeGreaterThan(200);
    expect(peak).toBeLessThan(maxBytes + 2 * 1024 * 1024);
    const r = await store.enforceRetention();
    expect(r.bytes).toBeLessThanOrEqual(maxBytes);
    expect(verifyChain(store.db)).toMatchObject({ ok: true });
  });

  it('never deletes the newest flow (the chain head), even when it is past max_age', async () => {
    const { store } = newStore({ retention: { maxAgeMs: 60_000 }, retentionIntervalMs: 3_600_000 });
    const old = Date.now() - 3_600_000;
    for (let i = 0; i < 3; i++) store.record(flowWithBodies(`h${i}.test`, old, 10));
    const r = await store.enforceRetention();
    expect(r.deleted).toBe(2);
    store.record(flowWithBodies('later.test', Date.now(), 10));
    await store.flush();
    expect(store.db.prepare('SELECT id FROM flows ORDER BY id').pluck().all()).toEqual([3, 4]);
    expect(verifyChain(store.db)).toMatchObject({ ok: true, verified: 2, startsAfterDeleted: 3 });
  });

  it('without limits, enforceRetention deletes nothing', async () => {
    const { store } = newStore({});
    for (let i = 0; i < 3; i++) store.record(flowWithBodies(`h${i}.test`, 0, 10));
    expect((await store.enforceRetention()).deleted).toBe(0);
    expect(count(store.db, 'SELECT count(*) FROM flows')).toBe(3);
  });
});
