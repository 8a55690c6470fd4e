// Full-text search: the MATCH expression built from user text, and the schema-3 migration that
// indexes flows written before it.
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { ftsMatch, searchFlows } from '../../proxy/store/search.ts';
import { migrate } from '../../proxy/store/schema.ts';
import { tempDir } from '../helpers/airlock.ts';

const opened: Database.Database[] = [];
afterEach(() => opened.splice(0).forEach((d) => d.open && d.close()));

describe('ftsMatch', () => {
  it('quotes every word as an FTS5 string and joins them with AND', () => {
    expect(ftsMatch('hello world')).toBe('"hello" "world"');
    expect(ftsMatch('  say "hi" ')).toBe('"say" """hi"""');
    expect(ftsMatch('NEAR(a b) col:val x* OR 1=1')).toBe('"NEAR(a" "b)" "col:val" "x*" "OR" "1=1"');
  });

  it('has nothing to look for in empty or punctuation-only text', () => {
    for (const t of ['', '   ', '*', '" -- ;', '()"^:']) expect(ftsMatch(t), t).toBeNull();
  });
});

describe('schema 3 on an existing store', () => {
  it('indexes flows written before it, text bodies only; deleting a flow drops it from the index', () => {
    const db = new Database(path.join(tempDir(), 'flows.sqlite'));
    opened.push(db);
    migrate(db, 2);
    const insert = db.prepare(
      `INSERT INTO flows (id, flow_id, started_at, entry, listener, client, method, scheme, host, port, path, query, protocol, status, decision, bytes_up, bytes_down, request_headers, response_headers)
       VALUES (?, ?, 0, 'explicit', 'l', 'c', 'POST', 'https', ?, 443, ?, ?, 'h1', 200, 'allow', 0, 0, ?, ?)`,
    );
    insert.run(1, 'a', 'old.test', '/v1/alpha', 'q=quokka', '{"x-trace":"wombat"}', '{"content-type":"application/json"}');
    insert.run(2, 'b', 'old.test', '/v1/beta', null, null, null);
    insert.run(3, 'c', 'old.test', '/v1/gamma', null, null, null);
    const body = db.prepare('INSERT INTO bodies (flow_id, direction, content_type, encoding, size, truncated, data) VALUES (?, ?, ?, ?, 10, 0, ?)');
    body.run(2, 'response', 'application/json', null, Buffer.from('{"answer":"platypus"}'));
    body.run(3, 'response', 'application/octet-stream', null, Buffer.from('platypus binary'));
    body.run(3, 'request', 'text/plain', 'gzip', Buffer.from('platypus still encoded'));
    migrate(db);

    const ids = (text: string) => searchFlows<{ id: number }>(db, { text }, 100, 'id').map((r) => r.id);
    expect(ids('quokka')).toEqual([1]);
    expect(ids('wombat')).toEqual([1]);
    expect(ids('platypus')).toEqual([2]);
    expect(ids('old.test')).toEqual([1, 2, 3]);
    expect(ids('old.test beta')).toEqual([2]);
    db.prepare('DELETE FROM flows WHERE id = 1').run();
    expect(db.prepare("SELECT count(*) AS n FROM flows_fts WHERE flows_fts MATCH '\"quokka\"'").get()).toEqual({ n: 0 });
  });
});
