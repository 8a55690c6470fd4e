// The flow store's backlog on a real full file system (a tmpfs the test mounts), driven through
// FlowStore itself: it holds what it can in order, drops the rest past its bounds with a count
// (one log event, not one per flow), and writes everything it held once space returns, extending
// the hash chain. Also: a flow SQLite refuses costs only itself, and a failed writer thread is
// started again.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { newFlow, type Flow } from '../../proxy/flow.ts';
import type { StoreEvent } from '../../proxy/store/availability.ts';
import { BACKLOG_MAX_FLOWS } from '../../proxy/store/backlog.ts';
import { verifyChain } from '../../proxy/store/verify.ts';
import { FlowStore } from '../../proxy/store/writer.ts';
import { cleanupSmallFs, mountTmpfs } from '../helpers/smallfs.ts';

const MiB = 1024 * 1024;
const open: FlowStore[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  cleanupSmallFs();
});

function flow(n: number): Flow {
  return newFlow({ entry: 'explicit', listener: 'l', client: 'c', host: `h${n}.test`, method: 'GET', path: '/' });
}

async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function newStore(dir: string, events: StoreEvent[]): FlowStore {
  const s = new FlowStore(path.join(dir, 'flows.sqlite'), { minFree: { bytes: 0 }, onEvent: (e) => events.push(e) });
  open.push(s);
  return s;
}

describe('the flow store backlog', () => {
  it('past its bounds new flows are dropped and counted, logged once; everything it held is written once space returns', async () => {
    // Room for 10,000 flows and their WAL once the filler is gone.
    const small = mountTmpfs(64 * MiB);
    const events: StoreEvent[] = [];
    const store = newStore(small.dir, events);
    store.record(flow(0));
    await store.flush();
    small.fill();
    await until('the store is unavailable', () => !store.availability.ok);
    const extra = 2000;
    for (let n = 1; n <= BACKLOG_MAX_FLOWS + extra; n++) store.record(flow(n));
    await store.flush();
    expect(store.backlog()).toBe(BACKLOG_MAX_FLOWS);
    expect(store.status()).toMatchObject({ state: 'unavailable', kind: 'full', backlog: BACKLOG_MAX_FLOWS, dropped: { backlog_full: extra } });
    const drops = events.filter((e) => e.msg.startsWith('flow store backlog is full'));
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ level: 'error', fields: { cause: 'backlog_full', flows: 200 } });

    small.unfill();
    await until('the store writes again', () => store.availability.ok);
    expect(events.at(-1)).toMatchObject({ level: 'info', fields: { backlog_written: BACKLOG_MAX_FLOWS, dropped: extra } });
    expect(store.backlog()).toBe(0);
    const hosts = store.db.prepare('SELECT host FROM flows ORDER BY id').pluck().all() as string[];
    // The flow before the outage, then the first 10,000 of it, in the order they were recorded.
    expect(hosts).toEqual(Array.from({ length: BACKLOG_MAX_FLOWS + 1 }, (_, n) => `h${n}.test`));
    expect(verifyChain(store.db)).toMatchObject({ ok: true, verified: BACKLOG_MAX_FLOWS + 1 });
    // Writing goes on after it.
    store.record(flow(99_999));
    await store.flush();
    expect(verifyChain(store.db)).toMatchObject({ ok: true, verified: BACKLOG_MAX_FLOWS + 2 });
  });

  it('at a graceful stop, flows still held back are counted and logged as lost', async () => {
    const small = mountTmpfs(16 * MiB);
    const events: StoreEvent[] = [];
    const store = newStore(small.dir, events);
    small.fill();
    await until('the store is unavailable', () => !store.availability.ok);
    for (let n = 1; n <= 5; n++) store.record(flow(n));
    await store.flush();
    open.length = 0;
    await store.close();
    expect(events.at(-1)).toMatchObject({ level: 'error', msg: 'flows in the backlog could not be written before stopping: lost', fields: { flows: 5 } });
    expect(store.status().dropped).toEqual({ shutdown: 5 });
  });

  it('a flow SQLite refuses (a duplicate flow id) costs only itself: the rest of its batch is written, the store stays available', async () => {
    const small = mountTmpfs(16 * MiB);
    const events: StoreEvent[] = [];
    const store = newStore(small.dir, events);
    const dup = flow(2);
    for (const f of [flow(1), dup, { ...dup }, flow(3)]) store.record(f);
    await store.flush();
    expect(store.db.prepare('SELECT host FROM flows ORDER BY id').pluck().all()).toEqual(['h1.test', 'h2.test', 'h3.test']);
    expect(store.availability.ok).toBe(true);
    expect(store.status().dropped).toEqual({ rejected: 1 });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ level: 'error', msg: 'flow store rejected flows (not retried)', fields: { flows: 1 } });
    expect(String(events[0].fields.error)).toMatch(/UNIQUE constraint failed: flows\.flow_id/);
    expect(verifyChain(store.db)).toMatchObject({ ok: true, verified: 3 });
  });

  it('a writer thread that dies is started again; flows recorded meanwhile wait and are written', async () => {
    const small = mountTmpfs(16 * MiB);
    const events: StoreEvent[] = [];
    const store = newStore(small.dir, events);
    store.record(flow(1));
    await store.flush();
    // The thread ends as a crash would end it (the test cannot make SQLite crash it).
    await (store as unknown as { thread: { worker: { terminate(): Promise<number> } } }).thread.worker.terminate();
    await until('the store is unavailable', () => !store.availability.ok);
    expect(store.status()).toMatchObject({ kind: 'writer' });
    store.record(flow(2));
    await until('the store writes again', () => store.availability.ok);
    await store.flush();
    expect(store.db.prepare('SELECT host FROM flows ORDER BY id').pluck().all()).toEqual(['h1.test', 'h2.test']);
    expect(events.map((e) => e.msg)).toEqual(['flow store cannot write: refusing new requests (503) until it can', 'flow store writes again: requests are served again']);
  });
});
