// Bodies stored by content (schema 6, proxy/store/chunks.cjs): each chunk once however many flows
// send it, every body put back together byte for byte (CLI, API, UI and HAR read through
// bodiesOf), `flows verify` catching a changed shared chunk, retention keeping exactly the chunks
// a remaining flow needs, full-text search indexing each chunk once, and stores written before
// schema 6 still readable and verifiable. Through the real FlowStore and its writer thread.
import crypto from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { newFlowBodies } from '../../proxy/capture.ts';
import { type Flow, newFlow } from '../../proxy/flow.ts';
import { harEntry, type FlowRow } from '../../proxy/cli/flows.ts';
import { createBatchWriter } from '../../proxy/store/batch.ts';
import { bodiesOf, decodeIds, unpack } from '../../proxy/store/bodies.ts';
import zlib from 'node:zlib';
import { COLUMNS, STORED_COLUMNS, toRow } from '../../proxy/store/rows.ts';
import { migrate } from '../../proxy/store/schema.ts';
import { searchFlows } from '../../proxy/store/search.ts';
import { verifyChain } from '../../proxy/store/verify.ts';
import { FlowStore } from '../../proxy/store/writer.ts';
import { tempDir } from '../helpers/airlock.ts';
import { nativeAddon } from '../../proxy/dlp/native.ts';
import { createRequire } from 'node:module';

const { createRetention } = createRequire(import.meta.url)('../../proxy/store/retention.cjs') as {
  createRetention(db: Database.Database, limits: { maxAgeMs?: number }): { runNow(): { deleted: number } };
};
const { TOUCH_LAG, createBatchWriter: rawWriter } = createRequire(import.meta.url)('../../proxy/store/batch.cjs') as {
  TOUCH_LAG: number;
  createBatchWriter(db: Database.Database, columns: readonly string[], hashed: number, remember: boolean): (rows: unknown[][], bodies: unknown[][], blob: Buffer) => void;
};
const { cut } = createRequire(import.meta.url)('../../proxy/store/chunks.cjs') as {
  cut(data: Buffer, given?: { ranges: number[]; digests: Buffer }): [number, number, Buffer][];
};

const stores: FlowStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

function open(opts = {}): FlowStore {
  const s = new FlowStore(path.join(tempDir(), 'flows.sqlite'), opts);
  stores.push(s);
  return s;
}

function flowWith(request: Buffer, response = Buffer.alloc(0), contentType = 'application/json'): Flow {
  const flow = newFlow({ entry: 'route', listener: 'l', client: 'c', method: 'POST', scheme: 'https', host: 'api.test', port: 443, path: '/v1/messages' });
  flow.requestHeaders = { 'content-type': contentType };
  flow.responseHeaders = { 'content-type': 'application/json' };
  flow.bodies = newFlowBodies(1024 * 1024, null); // a rule that injects no key: nothing to scrub
  flow.bodies.request.add(request);
  if (response.length) flow.bodies.response.add(response);
  flow.bytesUp = request.length;
  flow.bytesDown = response.length;
  return flow;
}

/** A conversation's request body at turn t: every message so far, as agents resend it. */
function turn(messages: string[], t: number): Buffer {
  return Buffer.from(JSON.stringify({ model: 'm', max_tokens: 10, messages: messages.slice(0, t).map((content, i) => ({ role: i % 2 ? 'assistant' : 'user', content })) }));
}

const requestOf = (s: FlowStore, id: number) => bodiesOf(s.db)(id).find((b) => b.direction === 'request')!;

/** Every chunk's bytes as sent (stored deflated where that paid). */
function chunkTexts(s: FlowStore): { id: number; owner: number; deflated: number; text: string }[] {
  return (s.db.prepare('SELECT id, owner, deflated, data FROM chunks ORDER BY id').all() as { id: number; owner: number; deflated: number; data: Buffer }[]).map((c) => ({
    ...c,
    text: unpack(c.data, c.deflated).toString(),
  }));
}

/** Rewrites a chunk's bytes behind airlock's back, stored as airlock would store them. */
function tamper(s: FlowStore, c: { id: number; deflated: number }, text: string): void {
  const raw = Buffer.from(text);
  s.db.prepare('UPDATE chunks SET data = ? WHERE id = ?').run(c.deflated ? zlib.deflateRawSync(raw) : raw, c.id);
}

describe('bodies stored by content', () => {
  it('a conversation resent turn after turn keeps each message once, and every turn reads back byte for byte', async () => {
    const s = open();
    const messages = Array.from({ length: 30 }, (_, i) => `message ${i} ${crypto.randomBytes(600).toString('base64')}`);
    const sent = Array.from({ length: messages.length }, (_, t) => turn(messages, t + 1));
    for (const body of sent) s.record(flowWith(body));
    await s.flush();
    sent.forEach((body, i) => expect(requestOf(s, i + 1).data!.equals(body), `turn ${i + 1}`).toBe(true));
    const stored = s.db.prepare('SELECT count(*) AS n, sum(length(data)) AS bytes FROM chunks').get() as { n: number; bytes: number };
    const distinct = Buffer.byteLength(turn(messages, messages.length));
    const total = sent.reduce((a, b) => a + b.length, 0);
    expect(stored.bytes).toBeLessThan(distinct * 1.2); // not the ~15x the turns add up to
    expect(total).toBeGreaterThan(distinct * 10);
    expect(verifyChain(s.db)).toMatchObject({ ok: true, verified: messages.length });
  });

  it('any bytes (JSON or not, any size up to the cap) read back as stored, in the CLI, API and HAR alike', async () => {
    const s = open();
    const bodies = fc.sample(
      fc.oneof(
        fc.uint8Array({ maxLength: 200_000 }).map((a) => Buffer.from(a)),
        fc.json({ maxDepth: 5 }).map((j) => Buffer.from(j)),
        fc.array(fc.lorem({ maxCount: 40 }), { maxLength: 50 }).map((a) => Buffer.from(JSON.stringify({ messages: a.map((text) => ({ text })) }))),
      ),
      { numRuns: 60, seed: 42 },
    );
    for (const b of bodies) s.record(flowWith(b, b.subarray(0, 100), 'application/octet-stream'));
    await s.flush();
    const read = bodiesOf(s.db);
    const rows = s.db.prepare('SELECT * FROM flows ORDER BY id').all() as FlowRow[];
    bodies.forEach((b, i) => {
      const got = read(rows[i].id);
      expect(got.find((x) => x.direction === 'request')?.data?.equals(b) ?? b.length === 0).toBe(true);
      // HAR carries the same bytes (base64 for binary).
      const har = harEntry(rows[i], got) as { request: { postData?: { text: string; _encoding?: string } } };
      if (b.length) {
        const pd = har.request.postData!;
        expect(Buffer.from(pd.text, pd._encoding === 'base64' ? 'base64' : 'utf8').equals(b)).toBe(true);
      }
    });
    expect(verifyChain(s.db)).toMatchObject({ ok: true, verified: bodies.length });
  });

  it('flows verify catches a changed chunk shared by many flows, and a body pointed at other chunks', async () => {
    const s = open();
    const messages = Array.from({ length: 6 }, (_, i) => `shared message ${i} ${'x'.repeat(800)}`);
    for (let t = 1; t <= messages.length; t++) s.record(flowWith(turn(messages, t)));
    await s.flush();
    const shared = chunkTexts(s).find((c) => c.text.includes('shared message 0'))!;
    expect(shared.owner).toBe(1);
    tamper(s, shared, shared.text.replace('shared message 0', 'forged message 0'));
    expect(verifyChain(s.db)).toMatchObject({ ok: false, flowId: 1, problem: expect.stringContaining(`body chunk ${shared.id} (first stored by flow 1`) });
    tamper(s, shared, shared.text);
    expect(verifyChain(s.db)).toMatchObject({ ok: true });
    // Bytes that do not even inflate any more are a changed chunk too.
    if (shared.deflated) {
      s.db.prepare("UPDATE chunks SET data = X'00' WHERE id = ?").run(shared.id);
      expect(verifyChain(s.db)).toMatchObject({ ok: false, flowId: 1 });
      tamper(s, shared, shared.text);
    }
    // Turn 3 made to read as turn 2: same chunks exist, but not the ones its hash covers.
    s.db.prepare("UPDATE bodies SET chunks = (SELECT chunks FROM bodies WHERE flow_id = 2 AND direction = 'request') WHERE flow_id = 3 AND direction = 'request'").run();
    expect(verifyChain(s.db)).toMatchObject({ ok: false, flowId: 3, problem: 'flow 3: hash mismatch (row changed after it was written)' });
  });

  it('retention keeps exactly the chunks a remaining flow needs; their text stays searchable', async () => {
    const s = open({ retention: { maxAgeMs: 60_000 } });
    const old = Array.from({ length: 4 }, (_, i) => `old session ${i} ${'o'.repeat(1100)}`);
    const live = Array.from({ length: 4 }, (_, i) => `live session needle${i} ${'l'.repeat(1100)}`);
    const at = (t: number) => (f: Flow) => Object.assign(f, { startedAt: t });
    for (let t = 1; t <= 4; t++) s.record(at(Date.now() - 3_600_000)(flowWith(turn(old, t))));
    for (let t = 1; t <= 2; t++) s.record(at(Date.now() - 3_600_000)(flowWith(turn(live, t)))); // this session goes on ...
    for (let t = 3; t <= 4; t++) s.record(flowWith(turn(live, t))); // ... into the kept window
    await s.flush();
    expect(searchFlows<{ id: number }>(s.db, { text: 'needle0' }, 10, 'id').map((r) => r.id)).toEqual([5]);
    const r = await s.enforceRetention();
    expect(r.deleted).toBe(6);
    // Every remaining body reads back whole; nothing of the old session is left.
    expect(requestOf(s, 7).data!.equals(turn(live, 3))).toBe(true);
    expect(requestOf(s, 8).data!.equals(turn(live, 4))).toBe(true);
    expect(chunkTexts(s).filter((c) => c.text.includes('old session'))).toEqual([]);
    const refs = new Set<number>();
    for (const b of s.db.prepare('SELECT chunks FROM bodies').pluck().all() as Buffer[]) for (const id of decodeIds(b)) refs.add(id);
    expect((s.db.prepare('SELECT id FROM chunks ORDER BY id').pluck().all() as number[]).sort()).toEqual([...refs].sort((a, b) => a - b));
    // The first live message was first sent by a deleted flow: its text is now found in a kept one.
    expect(searchFlows<{ id: number }>(s.db, { text: 'needle0' }, 10, 'id').map((r) => r.id)).toEqual([8]);
    expect(verifyChain(s.db)).toMatchObject({ ok: true, verified: 2, startsAfterDeleted: 7 });
  });

  it('full-text search indexes each chunk once: in the flow that sent it first', async () => {
    const s = open();
    const messages = ['first needleA', 'second needleB', 'third needleC'].map((m) => `${m} ${'z'.repeat(1100)}`);
    for (let t = 1; t <= 3; t++) s.record(flowWith(turn(messages, t)));
    await s.flush();
    const find = (w: string) => searchFlows<{ id: number }>(s.db, { text: w }, 10, 'id').map((r) => r.id);
    expect([find('needleA'), find('needleB'), find('needleC')]).toEqual([[1], [2], [3]]);
  });

  it('takes the pieces the DLP scanner hashed as they are, cuts the bytes between them, and ignores pieces that do not fit the body', () => {
    const body = turn(Array.from({ length: 8 }, (_, i) => `message ${i} ${crypto.randomBytes(900).toString('base64')}`), 8);
    const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest();
    const own = cut(body);
    expect(own.length).toBeGreaterThan(4);
    // Every other piece given (as after a finding in between): the same chunks, the gaps cut here.
    const given = own.filter((_, i) => i % 2 === 1);
    const ranges = given.flatMap(([s, e]) => [s, e]);
    const withGiven = cut(body, { ranges, digests: Buffer.concat(given.map((c) => c[2])) });
    expect(withGiven.map(([s, e]) => [s, e])).toEqual(own.map(([s, e]) => [s, e]));
    for (const [s, e, d] of withGiven) expect(d.equals(sha(body.subarray(s, e)))).toBe(true);
    // A given digest is taken as it is (the scanner's); verify would catch a wrong one.
    const wrong = cut(body, { ranges: [own[1][0], own[1][1]], digests: Buffer.alloc(32, 7) });
    expect(wrong.find(([s]) => s === own[1][0])![2].equals(Buffer.alloc(32, 7))).toBe(true);
    // Ranges out of order, overlapping, past the end or without a digest each: cut here instead.
    for (const bad of [[own[2][0], own[2][1], own[1][0], own[1][1]], [0, body.length + 1], [5, 5], [0, 10, 5, 20]]) {
      const r = cut(body, { ranges: bad, digests: Buffer.alloc(16 * bad.length, 1) });
      for (const [s, e, d] of r) expect(d.equals(sha(body.subarray(s, e)))).toBe(true);
    }
    expect(cut(body, { ranges: [0, 10], digests: Buffer.alloc(5) }).map(([s, e]) => [s, e])).toEqual(own.map(([s, e]) => [s, e]));
  });

  it('deflates chunks natively into the same bytes zlib writes, one stream reused across chunks and levels', () => {
    const addon = nativeAddon();
    if (!addon) return; // AIRLOCK_DLP_ENGINE=re2: chunks.cjs falls back to zlib
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 70_000 }), fc.lorem({ maxCount: 3000 }).map((t) => new TextEncoder().encode(t))), fc.constantFrom(1, 6, 1), (bytes, level) => {
        const b = Buffer.from(bytes);
        const z = addon.deflateRaw(b, level);
        expect(z.equals(zlib.deflateRawSync(b, { level }))).toBe(true);
        expect(zlib.inflateRawSync(z).equals(b)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('retention with marks that trail by up to TOUCH_LAG flows keeps exactly the chunks a remaining flow needs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 40 }),
        fc.integer({ min: TOUCH_LAG + 10, max: 3 * TOUCH_LAG }),
        fc.double({ min: 0.05, max: 0.95, noNaN: true }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer(),
        (poolSize, n, oldShare, perBatch, seed) => {
          const db = new Database(path.join(tempDir(), 'flows.sqlite'));
          db.pragma('journal_mode = WAL');
          db.pragma('foreign_keys = ON');
          migrate(db);
          const write = rawWriter(db, STORED_COLUMNS, COLUMNS.length, true);
          let x = seed >>> 0;
          const rand = (k: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) % k);
          const pool = Array.from({ length: poolSize }, (_, i) => `pooled${i}x ${crypto.randomBytes(800).toString('base64')}`);
          const old = Math.max(1, Math.floor(n * oldShare));
          const sent: Buffer[] = [];
          let rows: unknown[][] = [];
          let metas: unknown[][] = [];
          let parts: Buffer[] = [];
          let offset = 0;
          const flush = () => {
            write(rows, metas, Buffer.concat(parts));
            rows = [];
            metas = [];
            parts = [];
            offset = 0;
          };
          for (let f = 0; f < n; f++) {
            const picked = Array.from({ length: 1 + rand(5) }, () => pool[rand(poolSize)]);
            const body = turn(picked, picked.length);
            sent.push(body);
            const flow = newFlow({ entry: 'route', listener: 'l', client: 'c', method: 'POST', scheme: 'https', host: 'api.test', port: 443, path: '/v1/messages' });
            flow.startedAt = f < old ? Date.now() - 3_600_000 : Date.now();
            metas.push([rows.length, 'request', 'application/json', null, body.length, 0, offset, body.length]);
            rows.push(toRow(flow));
            parts.push(body);
            offset += body.length;
            if (rows.length >= perBatch) flush();
          }
          if (rows.length) flush();
          const r = createRetention(db, { maxAgeMs: 60_000 }).runNow();
          expect(r.deleted).toBe(Math.min(old, n - 1));
          const remaining = db.prepare('SELECT id FROM flows ORDER BY id').pluck().all() as number[];
          const read = bodiesOf(db);
          const refs = new Set<number>();
          for (const id of remaining) {
            const b = read(id).find((x) => x.direction === 'request')!;
            expect(b.data!.equals(sent[id - 1]), `flow ${id}`).toBe(true);
          }
          for (const b of db.prepare('SELECT chunks FROM bodies').pluck().all() as Buffer[]) for (const id of decodeIds(b)) refs.add(id);
          expect(db.prepare('SELECT id FROM chunks ORDER BY id').pluck().all()).toEqual([...refs].sort((a, b) => a - b));
          // Every chunk is still marked by a flow that refers to it, within TOUCH_LAG of the newest one.
          const users = new Map<number, number[]>();
          for (const [fid, list] of db.prepare('SELECT flow_id, chunks FROM bodies').raw().all() as [number, Buffer][]) for (const c of decodeIds(list)) users.set(c, [...(users.get(c) ?? []), fid]);
          for (const [cid, mark] of db.prepare('SELECT id, last_ref FROM chunks').raw().all() as [number, number][]) {
            expect(users.get(cid)).toContain(mark);
            expect(Math.max(...users.get(cid)!) - mark).toBeLessThanOrEqual(TOUCH_LAG);
          }
          // Every pooled message still sent by a remaining flow is found by search in one of them.
          for (let i = 0; i < poolSize; i++) {
            const holders = remaining.filter((id) => sent[id - 1].includes(`pooled${i}x`));
            const found = searchFlows<{ id: number }>(db, { text: `pooled${i}x` }, 1000, 'id').map((f) => f.id);
            if (holders.length) expect(found.some((id) => holders.includes(id)), `message ${i}`).toBe(true);
          }
          expect(verifyChain(db)).toMatchObject({ ok: true });
          db.close();
        },
      ),
      { numRuns: 12 },
    );
  });

  it('a store written before schema 6 reads and verifies, old bodies whole and new ones by content', async () => {
    const file = path.join(tempDir(), 'flows.sqlite');
    const db = new Database(file);
    migrate(db, 5);
    const old = Buffer.from('{"old":"body written whole"}');
    createBatchWriter(db, STORED_COLUMNS, COLUMNS.length)([toRow(newFlow({ entry: 'explicit', listener: 'l', client: 'c' }))], [[0, 'request', 'application/json', null, old.length, 0, 0, old.length]], old);
    db.close();
    const s = new FlowStore(file);
    stores.push(s);
    const fresh = turn(['new body stored by content'], 1);
    s.record(flowWith(fresh));
    await s.flush();
    expect(requestOf(s, 1).data!.equals(old)).toBe(true);
    expect(requestOf(s, 2).data!.equals(fresh)).toBe(true);
    expect(verifyChain(s.db)).toMatchObject({ ok: true, verified: 2 });
    s.db.prepare("UPDATE bodies SET data = CAST('forged' AS BLOB) WHERE flow_id = 1").run();
    expect(verifyChain(s.db)).toMatchObject({ ok: false, flowId: 1 });
  });
});
