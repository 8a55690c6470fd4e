// `airlock flows verify` on the PostgreSQL store: every instance's chain walked in id order, a
// page of flows at a time (with their bodies, chunk digests and findings in three queries per
// page), then every chunk once; all in one REPEATABLE READ snapshot, so instances writing
// meanwhile do not move rows under the walk. The checks are verify.ts's, as for SQLite.
import type pg from 'pg';
import type { HashedBody, StoredFinding } from '../batch.ts';
import { decodeIds } from '../bodies.ts';
import { STORED_COLUMNS } from '../rows.ts';
import { ChainWalk, checkChunk, hashedBody, okResult, type StoredBodyRow, type VerifyResult } from '../verify.ts';

const PAGE = 1000;

export function verifyPg(pool: pg.Pool): Promise<VerifyResult> {
  return inSnapshot(pool, walkAll);
}

/** `fn` on one connection inside a read-only snapshot transaction (one consistent view, however long it reads). */
export async function inSnapshot<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  let broken = true;
  try {
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const r = await fn(c);
    await c.query('COMMIT');
    broken = false;
    return r;
  } finally {
    if (broken) await c.query('ROLLBACK').catch(() => {});
    c.release(broken);
  }
}

async function walkAll(c: pg.PoolClient): Promise<VerifyResult> {
  const heads = new Map(
    (await c.query<{ name: string; head_id: number; head_hash: string }>('SELECT name, head_id, head_hash FROM instances')).rows.map((r) => [r.name, { id: r.head_id, hash: r.head_hash }]),
  );
  const names = new Set([...heads.keys(), ...(await c.query<{ instance: string }>('SELECT DISTINCT instance FROM flows')).rows.map((r) => r.instance)]);
  const reports = [];
  let verified = 0;
  const sorted = [...names].sort();
  for (const name of sorted) {
    if (heads.has(name)) continue;
    const first = (await c.query<{ id: number }>('SELECT min(id) AS id FROM flows WHERE instance = $1', [name])).rows[0].id;
    return { ok: false, flowId: first, problem: `flow ${first}: instance ${JSON.stringify(name)} has no recorded chain head (row changed after it was written)`, verified };
  }
  for (const name of sorted) {
    const walk = new ChainWalk(name, heads.get(name)!);
    for (let after = 0; ; ) {
      const rows = (
        await c.query({ text: `SELECT id, ${STORED_COLUMNS.join(', ')}, hash, prev_hash FROM flows WHERE instance = $1 AND id > $2 ORDER BY id LIMIT ${PAGE}`, values: [name, after], rowMode: 'array' })
      ).rows as unknown[][];
      if (!rows.length) break;
      const ids = rows.map((r) => r[0] as number);
      const bodies = new Map<number, StoredBodyRow[]>();
      for (const b of (await c.query('SELECT flow_id, direction, content_type, encoding, size, truncated, chunks FROM bodies WHERE flow_id = ANY($1::bigint[]) ORDER BY flow_id, direction', [ids])).rows) {
        const { flow_id, ...rest } = b as StoredBodyRow & { flow_id: number };
        bodies.set(flow_id, [...(bodies.get(flow_id) ?? []), rest]);
      }
      const chunkIds = [...new Set([...bodies.values()].flat().flatMap((b) => decodeIds(b.chunks!)))];
      const shas = new Map<number, Buffer>();
      if (chunkIds.length) for (const r of (await c.query('SELECT id, sha256 FROM chunks WHERE id = ANY($1::bigint[])', [chunkIds])).rows) shas.set(r.id, r.sha256);
      const findings = new Map<number, StoredFinding[]>();
      for (const f of (await c.query({ text: 'SELECT flow_id, rule_id, location, action, preview FROM findings WHERE flow_id = ANY($1::bigint[]) ORDER BY id', values: [ids], rowMode: 'array' })).rows as unknown[][]) {
        const id = f[0] as number;
        findings.set(id, [...(findings.get(id) ?? []), f.slice(1) as StoredFinding]);
      }
      for (const r of rows) {
        const id = r[0] as number;
        const mine = (bodies.get(id) ?? []).map((b) => hashedBody(id, b, (cid) => shas.get(cid)));
        const problem = walk.flow({
          id,
          values: r.slice(1, 1 + STORED_COLUMNS.length),
          hash: r[1 + STORED_COLUMNS.length] as string,
          prev: r[2 + STORED_COLUMNS.length] as string,
          bodies: mine.find((b): b is string => typeof b === 'string') ?? (mine as HashedBody[]),
          findings: findings.get(id) ?? [],
        });
        if (problem) return { ok: false, flowId: id, problem, verified: verified + walk.count };
      }
      after = ids[ids.length - 1];
    }
    const end = walk.end();
    if (end) return { ok: false, ...end, verified: verified + walk.count };
    verified += walk.count;
    reports.push(walk.report());
  }
  // Each chunk once, however many flows (and instances) share it.
  for (let after = 0; ; ) {
    const rows = (await c.query<{ id: number; sha256: Buffer; data: Buffer; deflated: number; owner: number }>(`SELECT id, sha256, data, deflated, owner FROM chunks WHERE id > $1 ORDER BY id LIMIT ${PAGE}`, [after])).rows;
    if (!rows.length) break;
    for (const r of rows) {
      const bad = checkChunk(r.id, r.sha256, r.data, r.deflated, r.owner);
      if (bad) return { ok: false, ...bad, verified };
    }
    after = rows[rows.length - 1].id;
  }
  return okResult(reports);
}
