// The flows hash chain: written by the batch writer (worker and fallback alike), checked by verifyChain.
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { newFlowBodies } from '../../proxy/capture.ts';
import { newFlow } from '../../proxy/flow.ts';
import { createBatchWriter } from '../../proxy/store/batch.ts';
import { COLUMNS, toRow } from '../../proxy/store/rows.ts';
import { migrate, SCHEMA_VERSION } from '../../proxy/store/schema.ts';
import { verifyChain } from '../../proxy/store/verify.ts';
import { FlowStore } from '../../proxy/store/writer.ts';
import { tempDir } from '../helpers/airlock.ts';

const opened: Database.Database[] = [];
afterEach(() => opened.splice(0).forEach((d) => d.open && d.close()));

function store(): Database.Database {
  const db = new Database(path.join(tempDir(), 'flows.sqlite'));
  migrate(db);
  opened.push(db);
  return db;
}

function writeFlows(db: Database.Database, n: number, withBody = false): void {
  const write = createBatchWriter(db, COLUMNS);
  const rows = Array.from({ length: n }, (_, i) => toRow(newFlow({ entry: 'explicit', listener: 'l', client: 'c', host: `h${i}.test`, path: '/p' })));
  const blob = Buffer.from('hello');
  write(rows, withBody ? [[0, 'request', 'text/plain', null, 5, 0, 0, 5]] : [], blob);
}

describe('hash chain', () => {
  it('verifies across batches and names the first broken link', () => {
    const db = store();
    writeFlows(db, 3, true);
    writeFlows(db, 2);
    expect(verifyChain(db)).toMatchObject({ ok: true, verified: 5 });

    // A body is stored by content: its chunk's bytes are checked against the chunk's SHA-256 ...
    db.prepare("UPDATE chunks SET data = CAST('HELLO' AS BLOB) WHERE owner = 1").run();
    expect(verifyChain(db)).toMatchObject({ ok: false, flowId: 1, problem: expect.stringMatching(/^body chunk \d+ \(first stored by flow 1, .*changed after it was written$/) });
    db.prepare("UPDATE chunks SET data = CAST('hello' AS BLOB) WHERE owner = 1").run();
    expect(verifyChain(db)).toMatchObject({ ok: true });
    // ... and the flow's hash covers which chunks, in which order, make its body.
    db.prepare("UPDATE bodies SET chunks = X'07' WHERE flow_id = 1").run();
    expect(verifyChain(db)).toMatchObject({ ok: false, problem: 'flow 1: a request body chunk is missing from the store' });
  });

  it('a deleted flow breaks the link of the next one', () => {
    const db = store();
    writeFlows(db, 4);
    db.prepare('DELETE FROM flows WHERE id = 2').run();
    expect(verifyChain(db)).toMatchObject({ ok: false, problem: 'flow 3: prev_hash does not match flow 1' });
  });

  it('deleting the oldest flows (retention) is reported, not failed', () => {
    const db = store();
    writeFlows(db, 4);
    db.prepare('DELETE FROM flows WHERE id <= 2').run();
    expect(verifyChain(db)).toMatchObject({ ok: true, verified: 2, startsAfterDeleted: 3 });
  });

  it('flows written before schema 2 are counted as unhashed; the chain starts after them', () => {
    const db = new Database(path.join(tempDir(), 'old.sqlite'));
    opened.push(db);
    // A version-1 file with one flow, then the upgrade.
    db.exec(`CREATE TABLE flows (id INTEGER PRIMARY KEY, flow_id TEXT NOT NULL UNIQUE, started_at INTEGER NOT NULL, entry TEXT NOT NULL,
      listener TEXT NOT NULL, client TEXT NOT NULL, agent_user TEXT, method TEXT, scheme TEXT, host TEXT, port INTEGER, path TEXT,
      query TEXT, protocol TEXT NOT NULL, status INTEGER, decision TEXT NOT NULL, rule_id TEXT, code TEXT, reason TEXT, error TEXT,
      injected TEXT, bytes_up INTEGER NOT NULL, bytes_down INTEGER NOT NULL, ttfb_ms REAL, total_ms REAL, request_headers TEXT,
      response_headers TEXT); PRAGMA user_version = 1;`);
    db.prepare(`INSERT INTO flows (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`).run(
      toRow(newFlow({ entry: 'explicit', listener: 'l', client: 'c' })),
    );
    migrate(db);
    writeFlows(db, 2);
    expect(verifyChain(db)).toMatchObject({ ok: true, verified: 2, unhashed: 1 });
  });

  it('the FlowStore writer thread and its overload fallback extend one chain', async () => {
    const file = path.join(tempDir(), 'flows.sqlite');
    const s = new FlowStore(file);
    for (let i = 0; i < 50; i++) s.record(newFlow({ entry: 'explicit', listener: 'l', client: 'c', host: 'a.test' }));
    await s.flush();
    // The fallback path, as record() takes it when the writer thread is far behind.
    const thread = (s as unknown as { thread: { writeHere(b: { json: string; count: number; bytes: number }): void } }).thread;
    thread.writeHere({ json: JSON.stringify({ rows: [toRow(newFlow({ entry: 'explicit', listener: 'l', client: 'c', host: 'b.test' }))], bodies: [] }), count: 1, bytes: 0 });
    for (let i = 0; i < 50; i++) s.record(newFlow({ entry: 'explicit', listener: 'l', client: 'c', host: 'c.test' }));
    await s.flush();
    expect(verifyChain(s.db)).toMatchObject({ ok: true, verified: 101 });
    await s.close();
  });

  it.each([6, 7])('a store at schema %i (before instances) is upgraded to 8: its flows stay one chain, new ones extend the instance\'s; sessions carry on', async (from) => {
    const file = path.join(tempDir(), 'flows.sqlite');
    const db = new Database(file);
    migrate(db, from);
    writeFlows(db, 3);
    db.close();
    const llmCall = (messages: string[]) => {
      const f = newFlow({ entry: 'route', listener: 'l', client: 'c', method: 'POST', scheme: 'https', host: 'api.anthropic.com', port: 443, path: '/v1/messages', agentUser: 'agent-1' });
      f.requestHeaders = { 'content-type': 'application/json' };
      f.responseHeaders = { 'content-type': 'application/json' };
      f.bodies = newFlowBodies(1024 * 1024, null);
      f.bodies.request.add(Buffer.from(JSON.stringify({ model: 'm', max_tokens: 5, messages: messages.map((content, i) => ({ role: i % 2 ? 'assistant' : 'user', content })) })));
      f.bodies.response.add(Buffer.from(JSON.stringify({ model: 'm', usage: { input_tokens: 1, output_tokens: 1 }, content: [] })));
      f.status = 200;
      return f;
    };
    const s = new FlowStore(file, { instance: 'pod-a' });
    s.record(llmCall(['hi']));
    s.record(llmCall(['hi', 'hello', 'and now?']));
    await s.flush();
    expect(s.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(SCHEMA_VERSION).toBe(8);
    const v = verifyChain(s.db);
    expect(v).toMatchObject({ ok: true, verified: 5 });
    if (v.ok) expect(v.chains.map((c) => [c.instance, c.verified])).toEqual([[null, 3], ['pod-a', 2]]);
    expect(s.db.prepare('SELECT id, instance FROM flows ORDER BY id').raw().all()).toEqual([[1, null], [2, null], [3, null], [4, 'pod-a'], [5, 'pod-a']]);
    expect(s.db.prepare('SELECT session_id, turn FROM session_turns ORDER BY flow_id').raw().all()).toEqual([[1, 1], [1, 2]]);
    await s.close();
  });
});
