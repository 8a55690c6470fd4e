// A flow's stored bodies, as the CLI, the API, the UI and exports read them: a body stored by
// content (schema 6, chunks.cjs) is put back together from its chunks, byte for byte; one stored
// whole before that is read as it is.
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { packageFile } from '../package-file.ts';

export interface BodyRow {
  direction: 'request' | 'response';
  content_type: string | null;
  encoding: string | null;
  size: number;
  truncated: number;
  data: Buffer | null;
}

interface ChunksModule {
  decodeIds(buf: Buffer): number[];
  listDigest(digests: Buffer[]): string;
  unpack(bytes: Buffer, deflated: number): Buffer;
}
const chunksModule = createRequire(import.meta.url)(packageFile('proxy/store/chunks.cjs')) as ChunksModule;
export const { decodeIds, listDigest, unpack } = chunksModule;

/** Stored rows with `chunks` (ids) next to `data`, before the chunks are joined. */
interface StoredRow extends BodyRow {
  chunks: Buffer | null;
}

export function bodiesOf(db: Database.Database): (id: number) => BodyRow[] {
  const rows = db.prepare('SELECT direction, content_type, encoding, size, truncated, data, chunks FROM bodies WHERE flow_id = ? ORDER BY direction');
  const chunk = db.prepare('SELECT data, deflated FROM chunks WHERE id = ?').raw();
  const read = (c: number) => {
    const r = chunk.get(c) as [Buffer, number] | undefined;
    return r && unpack(r[0], r[1]);
  };
  return (id) =>
    (rows.all(id) as StoredRow[]).map(({ chunks, ...b }) => {
      if (!chunks) return b;
      const parts = decodeIds(chunks).map(read);
      // A chunk missing from the store (changed behind airlock's back) leaves the body incomplete; verify names it.
      return { ...b, data: Buffer.concat(parts.filter((p): p is Buffer => p !== undefined)) };
    });
}
