// Typed access to the PostgreSQL store's CommonJS modules (shared with the writer thread), loaded
// on first use: an airlock on the embedded SQLite store never loads `pg`.
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

let connect: ConnectModule | undefined;
let schema: SchemaModule | undefined;
let batch: BatchModule | undefined;
const connectModule = () => (connect ??= load(packageFile('proxy/store/pg/connect.cjs')) as ConnectModule);
const schemaModule = () => (schema ??= load(packageFile('proxy/store/pg/schema.cjs')) as SchemaModule);

export const createPool: ConnectModule['createPool'] = (o) => connectModule().createPool(o);
export const describe: ConnectModule['describe'] = (err) => connectModule().describe(err);
/** The PostgreSQL store's schema version this airlock writes. */
export const pgSchemaVersion = (): number => schemaModule().SCHEMA_VERSION;
export const migrate: SchemaModule['migrate'] = (pool, name, by) => schemaModule().migrate(pool, name, by);
export const schemaVersion: SchemaModule['schemaVersion'] = (pool, name) => schemaModule().schemaVersion(pool, name);
export const ftsWords: BatchModule['ftsWords'] = (text) => (batch ??= load(packageFile('proxy/store/pg/batch.cjs')) as BatchModule).ftsWords(text);
