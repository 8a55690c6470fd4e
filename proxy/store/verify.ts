// Recomputes the flows hash chains (see batch.cjs and docs/audit.md) and names the first broken
// link. One chain per airlock instance (schema 8), plus the chain of flows from before instances
// were recorded; each instance's recorded head (the instances table) must be its newest flow, so
// flows cut from a chain's end are caught too. Every body chunk is checked once against its
// SHA-256, however many flows share it. The walk (ChainWalk, checkChunk) is the same for SQLite
// (verifyChain below) and PostgreSQL (pg/verify.ts); only the reading differs.
import type Database from 'better-sqlite3';
import { flowHash, type HashedBody, hashValues, sha256, type StoredFinding } from './batch.ts';
import { decodeIds, listDigest, unpack } from './bodies.ts';
import { COLUMNS, STORED_COLUMNS } from './rows.ts';

export interface ChainReport {
  /** null: the flows written before schema 8 (no instance recorded). */
  instance: string | null;
  verified: number;
  /** Flows from before schema 2 (no hash). */
  unhashed: number;
  head: string | null;
  /** The oldest flow left when older ones were deleted (retention); null when the chain is whole. */
  startsAfterDeleted: number | null;
  /** Retention deleted every flow of this chain; its recorded head was flow `deletedHead`. */
  deletedHead?: number;
}

export type VerifyResult =
  | {
      ok: true;
      /** Flows verified over all chains. */
      verified: number;
      unhashed: number;
      /** With one chain: its head and where it starts; with several, see `chains`. */
      head: string | null;
      startsAfterDeleted: number | null;
      chains: ChainReport[];
    }
  | { ok: false; flowId: number; problem: string; verified: number };

/** A flow as the chain check reads it: values in STORED_COLUMNS order. */
export interface ChainFlow {
  id: number;
  values: readonly unknown[];
  hash: string | null;
  prev: string | null;
  /** Its bodies as the hash covers them, or the problem that makes one unreadable. */
  bodies: HashedBody[] | string;
  findings: StoredFinding[];
}

/** A body row as stored: `chunks` (ids, LEB128) for a body stored by content, else `data`. */
export type StoredBodyRow = HashedBody & { chunks?: Buffer | null };

/** The body as its flow's hash covers it; a chunk id with no chunk is a broken body. */
export function hashedBody(id: number, b: StoredBodyRow, shaOf: (chunkId: number) => Buffer | undefined): HashedBody | string {
  const { chunks, ...rest } = b;
  if (!chunks) return rest;
  const digests = decodeIds(chunks).map(shaOf);
  if (digests.some((d) => d === undefined)) return `flow ${id}: a ${b.direction} body chunk is missing from the store`;
  return { ...rest, digest: listDigest(digests as Buffer[]) };
}

/** One chain, fed its flows in id order. */
export class ChainWalk {
  private verified = 0;
  private unhashed = 0;
  private prevId: number | null = null;
  private prevHash: string | null = null;
  private startsAfterDeleted: number | null = null;
  private readonly where: string;

  constructor(
    readonly instance: string | null,
    /** The instances table's head of this chain (none for the flows from before schema 8). */
    private readonly recorded: { id: number; hash: string } | null,
  ) {
    this.where = instance === null ? '' : ` (the chain of instance ${JSON.stringify(instance)})`;
  }

  /** The problem with this flow, or null. */
  flow(f: ChainFlow): string | null {
    const values = hashValues(f.values, COLUMNS.length);
    if (f.hash === null) {
      // Flows written before schema 2 carry no hash; after the first hashed flow every flow must.
      if (this.prevHash !== null) return `flow ${f.id}: hash missing (row changed after it was written)`;
      this.unhashed++;
      this.prevId = f.id;
      return null;
    }
    if (typeof f.bodies === 'string') return f.bodies;
    const expected = flowHash(f.prev ?? '', f.id, values, f.bodies, f.findings, this.instance);
    if (expected !== f.hash) return `flow ${f.id}: hash mismatch (row changed after it was written)`;
    if (this.prevHash === null && this.prevId === null) {
      // The oldest row left: a non-empty prev_hash means older flows were deleted (retention).
      if ((f.prev ?? '') !== '') this.startsAfterDeleted = f.id;
    } else if ((f.prev ?? '') !== (this.prevHash ?? '')) {
      return `flow ${f.id}: prev_hash does not match flow ${this.prevId}${this.where}`;
    }
    this.prevId = f.id;
    this.prevHash = f.hash;
    this.verified++;
    return null;
  }

  /** After the last flow: the chain must end at its recorded head (nothing cut from its end). */
  end(): { problem: string; flowId: number } | null {
    const r = this.recorded;
    if (!r || this.prevId === null) return null;
    if (this.prevId !== r.id || this.prevHash !== r.hash) {
      return {
        flowId: this.prevId,
        problem:
          this.prevId < r.id
            ? `instance ${JSON.stringify(this.instance)}: the newest flows of its chain are missing (its head is flow ${r.id}, the newest left is flow ${this.prevId})`
            : `instance ${JSON.stringify(this.instance)}: its recorded chain head (flow ${r.id}) does not match its newest flow ${this.prevId}`,
      };
    }
    return null;
  }

  report(): ChainReport {
    return {
      instance: this.instance,
      verified: this.verified,
      unhashed: this.unhashed,
      head: this.prevHash,
      startsAfterDeleted: this.startsAfterDeleted,
      ...(this.prevId === null && this.recorded ? { deletedHead: this.recorded.id } : {}),
    };
  }

  get count(): number {
    return this.verified;
  }
}

/** A chunk's bytes must still be what its SHA-256 says. */
export function checkChunk(cid: number, sha: Buffer, data: Buffer, deflated: number, owner: number): { flowId: number; problem: string } | null {
  let bytes: Buffer | null;
  try {
    bytes = unpack(data, deflated);
  } catch {
    bytes = null; // not inflatable any more: changed
  }
  if (bytes !== null && sha256(bytes) === sha.toString('hex')) return null;
  return { flowId: owner, problem: `body chunk ${cid} (first stored by flow ${owner}, shared by every flow that sent it again) changed after it was written` };
}

export function okResult(chains: ChainReport[]): VerifyResult {
  const one = chains.length === 1 ? chains[0] : null;
  return {
    ok: true,
    verified: chains.reduce((n, c) => n + c.verified, 0),
    unhashed: chains.reduce((n, c) => n + c.unhashed, 0),
    head: one?.head ?? null,
    startsAfterDeleted: one?.startsAfterDeleted ?? null,
    chains,
  };
}

/** `onProgress`: called with the number of flows checked so far, every 1,000 flows. */
export function verifyChain(db: Database.Database, onProgress?: (checked: number) => void): VerifyResult {
  const has = (name: string) => db.prepare('SELECT 1 FROM sqlite_master WHERE name = ?').get(name) !== undefined;
  const chunked = has('chunks');
  const named = has('instances');
  const cols = `id, ${STORED_COLUMNS.join(', ')}, hash, prev_hash`;
  const allFlows = db.prepare(`SELECT ${cols} FROM flows ORDER BY id`).raw();
  const flowsOf = named ? db.prepare(`SELECT ${cols} FROM flows WHERE instance = ? ORDER BY id`).raw() : null;
  const legacyFlows = named ? db.prepare(`SELECT ${cols} FROM flows WHERE instance IS NULL ORDER BY id`).raw() : null;
  const bodyRows = db.prepare(`SELECT direction, content_type, encoding, size, truncated, data${chunked ? ', chunks' : ''} FROM bodies WHERE flow_id = ? ORDER BY direction`);
  const chunkSha = chunked ? db.prepare('SELECT sha256 FROM chunks WHERE id = ?').pluck() : null;
  const findings = db.prepare('SELECT rule_id, location, action, preview FROM findings WHERE flow_id = ? ORDER BY id').raw();
  const shaOf = (c: number) => chunkSha!.get(c) as Buffer | undefined;
  const toFlow = (r: unknown[]): ChainFlow => {
    const id = r[0] as number;
    const bodies = (bodyRows.all(id) as StoredBodyRow[]).map((b) => hashedBody(id, b, shaOf));
    const broken = bodies.find((b): b is string => typeof b === 'string');
    return {
      id,
      values: r.slice(1, 1 + STORED_COLUMNS.length),
      hash: r[1 + STORED_COLUMNS.length] as string | null,
      prev: r[2 + STORED_COLUMNS.length] as string | null,
      bodies: broken ?? (bodies as HashedBody[]),
      findings: findings.all(id) as StoredFinding[],
    };
  };
  // One read transaction: a proxy writing at the same time cannot move the rows under us.
  return db.transaction((): VerifyResult => {
    const chains: { walk: ChainWalk; rows: () => IterableIterator<unknown[]> }[] = [];
    if (!named) chains.push({ walk: new ChainWalk(null, null), rows: () => allFlows.iterate() as IterableIterator<unknown[]> });
    else {
      const heads = new Map((db.prepare('SELECT name, head_id, head_hash FROM instances').raw().all() as [string, number, string][]).map(([n, id, hash]) => [n, { id, hash }]));
      const names = new Set([...heads.keys(), ...(db.prepare('SELECT DISTINCT instance FROM flows WHERE instance IS NOT NULL').pluck().all() as string[])]);
      if (db.prepare('SELECT 1 FROM flows WHERE instance IS NULL LIMIT 1').get() !== undefined || names.size === 0) {
        chains.push({ walk: new ChainWalk(null, null), rows: () => legacyFlows!.iterate() as IterableIterator<unknown[]> });
      }
      for (const name of [...names].sort()) {
        const head = heads.get(name);
        if (!head) {
          const first = db.prepare('SELECT min(id) FROM flows WHERE instance = ?').pluck().get(name) as number;
          return { ok: false, flowId: first, problem: `flow ${first}: instance ${JSON.stringify(name)} has no recorded chain head (row changed after it was written)`, verified: 0 };
        }
        chains.push({ walk: new ChainWalk(name, head), rows: () => flowsOf!.iterate(name) as IterableIterator<unknown[]> });
      }
    }
    let verified = 0;
    for (const { walk, rows } of chains) {
      for (const r of rows()) {
        const checked = verified + walk.count;
        if (onProgress && checked % 1000 === 999) onProgress(checked + 1);
        const problem = walk.flow(toFlow(r));
        if (problem) return { ok: false, flowId: r[0] as number, problem, verified: verified + walk.count };
      }
      const end = walk.end();
      if (end) return { ok: false, ...end, verified: verified + walk.count };
      verified += walk.count;
    }
    if (chunked) {
      for (const [cid, sha, data, deflated, owner] of db.prepare('SELECT id, sha256, data, deflated, owner FROM chunks ORDER BY id').raw().iterate() as IterableIterator<
        [number, Buffer, Buffer, number, number]
      >) {
        const bad = checkChunk(cid, sha, data, deflated, owner);
        if (bad) return { ok: false, ...bad, verified };
      }
    }
    return okResult(chains.map((c) => c.walk.report()));
  })();
}
