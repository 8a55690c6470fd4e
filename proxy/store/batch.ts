// Typed access to batch.cjs (the CommonJS module the writer thread shares with this thread).
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { packageFile } from '../package-file.ts';

/**
 * [rowIndex, direction, contentType, encoding, size, truncated (0|1), offset, length], then for a
 * body whose pieces were hashed already: [s0, e0, s1, e1, ...] within the body, and the blob
 * offset of their SHA-256s (32 bytes each, in order).
 */
export type BodyMeta =
  | [number, 'request' | 'response', string | null, string | null, number, 0 | 1, number, number]
  | [number, 'request' | 'response', string | null, string | null, number, 0 | 1, number, number, number[], number];

export interface HashedBody {
  direction: string;
  content_type: string | null;
  encoding: string | null;
  size: number;
  truncated: number;
  data: Buffer | null;
  /** A body stored by content: "chunks:" + sha256 over its chunks' SHA-256s (chunks.cjs). */
  digest?: string;
}

/** [rule_id, location, action, preview]: one row of the findings table, in the hash as written. */
export type StoredFinding = [string, string, string, string];

interface BatchModule {
  createBatchWriter(
    db: Database.Database,
    columns: readonly string[],
    hashed?: number,
    remember?: boolean,
    instance?: string | null,
  ): ((rows: unknown[][], bodies: BodyMeta[], blob: Buffer) => void) & { forget(): void };
  flowHash(prevHash: string | null, id: number, values: readonly unknown[], bodies: readonly HashedBody[], findings?: readonly StoredFinding[] | null, instance?: string | null): string;
  hashValues(values: readonly unknown[], hashed: number): readonly unknown[];
  sha256(data: Buffer | string): string;
}

const mod = createRequire(import.meta.url)(packageFile('proxy/store/batch.cjs')) as BatchModule;
export const { createBatchWriter, flowHash, hashValues, sha256 } = mod;
