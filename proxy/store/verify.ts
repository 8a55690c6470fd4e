// Recomputes the flows hash chain (see batch.cjs and docs/audit.md) and names the first broken link.
import type Database from 'better-sqlite3';
import { flowHash, type HashedBody, hashValues, type StoredFinding } from './batch.ts';
import { COLUMNS, STORED_COLUMNS } from './rows.ts';

export type VerifyResult =
  | { ok: true; verified: number; unhashed: number; head: string | null; startsAfterDeleted: number | null }
  | { ok: false; flowId: number; problem: string; verified: number };

export function verifyChain(db: Database.Database): VerifyResult {
  const flows = db.prepare(`SELECT id, ${STORED_COLUMNS.join(', ')}, hash, prev_hash FROM flows ORDER BY id`).raw();
  const bodies = db.prepare('SELECT direction, content_type, encoding, size, truncated, data FROM bodies WHERE flow_id = ? ORDER BY direction');
  const findings = db.prepare('SELECT rule_id, location, action, preview FROM findings WHERE flow_id = ? ORDER BY id').raw();
  // One read transaction: a proxy writing at the same time cannot move the rows under us.
  return db.transaction((): VerifyResult => {
    let verified = 0;
    let unhashed = 0;
    let prevId: number | null = null;
    let prevHash: string | null = null;
    let startsAfterDeleted: number | null = null;
    for (const r of flows.iterate() as IterableIterator<unknown[]>) {
      const id = r[0] as number;
      const values = hashValues(r.slice(1, 1 + STORED_COLUMNS.length), COLUMNS.length);
      const hash = r[1 + STORED_COLUMNS.length] as string | null;
      const prev = r[2 + STORED_COLUMNS.length] as string | null;
      if (hash === null) {
        // Flows written before schema 2 carry no hash; after the first hashed flow every flow must.
        if (prevHash !== null) return { ok: false, flowId: id, problem: `flow ${id}: hash missing (row changed after it was written)`, verified };
        unhashed++;
        prevId = id;
        continue;
      }
      const expected = flowHash(prev ?? '', id, values, bodies.all(id) as HashedBody[], findings.all(id) as StoredFinding[]);
      if (expected !== hash) return { ok: false, flowId: id, problem: `flow ${id}: hash mismatch (row changed after it was written)`, verified };
      if (prevHash === null && prevId === null) {
        // The oldest row left: a non-empty prev_hash means older flows were deleted (retention).
        if ((prev ?? '') !== '') startsAfterDeleted = id;
      } else if ((prev ?? '') !== (prevHash ?? '')) {
        return { ok: false, flowId: id, problem: `flow ${id}: prev_hash does not match flow ${prevId}`, verified };
      }
      prevId = id;
      prevHash = hash;
      verified++;
    }
    return { ok: true, verified, unhashed, head: prevHash, startsAfterDeleted };
  })();
}
