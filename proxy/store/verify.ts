// Recomputes the flows hash chain (see batch.cjs and docs/audit.md) and names the first broken link.
import type Database from 'better-sqlite3';
import { flowHash, type HashedBody, hashValues, sha256, type StoredFinding } from './batch.ts';
import { decodeIds, listDigest, unpack } from './bodies.ts';
import { COLUMNS, STORED_COLUMNS } from './rows.ts';

export type VerifyResult =
  | { ok: true; verified: number; unhashed: number; head: string | null; startsAfterDeleted: number | null }
  | { ok: false; flowId: number; problem: string; verified: number };

/** `onProgress`: called with the number of flows checked so far, every 1,000 flows. */
export function verifyChain(db: Database.Database, onProgress?: (checked: number) => void): VerifyResult {
  const flows = db.prepare(`SELECT id, ${STORED_COLUMNS.join(', ')}, hash, prev_hash FROM flows ORDER BY id`).raw();
  const chunked = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'chunks'").get() !== undefined;
  const bodyRows = db.prepare(`SELECT direction, content_type, encoding, size, truncated, data${chunked ? ', chunks' : ''} FROM bodies WHERE flow_id = ? ORDER BY direction`);
  const chunkSha = chunked ? db.prepare('SELECT sha256 FROM chunks WHERE id = ?').pluck() : null;
  /** A flow's bodies as its hash covers them; a chunk id with no chunk is a broken body. */
  const bodies = (id: number): HashedBody[] | string =>
    (bodyRows.all(id) as (HashedBody & { chunks?: Buffer | null })[]).map(({ chunks, ...b }) => {
      if (!chunks) return b;
      const digests = decodeIds(chunks).map((c) => chunkSha!.get(c) as Buffer | undefined);
      if (digests.some((d) => d === undefined)) return `flow ${id}: a ${b.direction} body chunk is missing from the store`;
      return { ...b, digest: listDigest(digests as Buffer[]) };
    }) as HashedBody[] | string;
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
      if (onProgress && (verified + unhashed) % 1000 === 999) onProgress(verified + unhashed + 1);
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
      const mine = bodies(id);
      const broken = (mine as unknown[]).find((b) => typeof b === 'string') as string | undefined;
      if (broken) return { ok: false, flowId: id, problem: broken, verified };
      const expected = flowHash(prev ?? '', id, values, mine as HashedBody[], findings.all(id) as StoredFinding[]);
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
    // Each chunk once, however many flows share it: its bytes must still be what its SHA-256 says.
    if (chunked) {
      for (const [cid, sha, data, deflated, owner] of db.prepare('SELECT id, sha256, data, deflated, owner FROM chunks ORDER BY id').raw().iterate() as IterableIterator<[number, Buffer, Buffer, number, number]>) {
        let bytes: Buffer | null;
        try {
          bytes = unpack(data, deflated);
        } catch {
          bytes = null; // not inflatable any more: changed
        }
        if (bytes === null || sha256(bytes) !== sha.toString('hex')) {
          return { ok: false, flowId: owner, problem: `body chunk ${cid} (first stored by flow ${owner}, shared by every flow that sent it again) changed after it was written`, verified };
        }
      }
    }
    return { ok: true, verified, unhashed, head: prevHash, startsAfterDeleted };
  })();
}
