// Typed access to the PostgreSQL store's CommonJS modules (shared with the writer thread).
import { createRequire } from 'node:module';
import type pg from 'pg';
import { packageFile } from '../../package-file.ts';

const load = createRequire(import.meta.url);

interface ConnectModule {
  createPool(o: {
    url: string;
    schema: string;
    max: number;
    name: string;
    connectTimeoutMs?: number;
    statementTimeoutMs?: number;
    onError?: (err: Error) => void;
  }): pg.Pool;
  describe(err: unknown): string;
}

interface SchemaModule {
  SCHEMA_VERSION: number;
  migrate(pool: pg.Pool, schema: string, by: string): Promise<number[]>;
  schemaVersion(pool: pg.Pool, schema: string): Promise<number>;
}

interface BatchModule {
  ftsWords(text: string): string;
}

export const { createPool, describe } = load(packageFile('proxy/store/pg/connect.cjs')) as ConnectModule;
export const { SCHEMA_VERSION, migrate, schemaVersion } = load(packageFile('proxy/store/pg/schema.cjs')) as SchemaModule;
export const { ftsWords } = load(packageFile('proxy/store/pg/batch.cjs')) as BatchModule;
