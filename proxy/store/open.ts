// Opens (creating it if needed) the store file on the proxy's thread and brings its schema up to
// date: at start, and again when the file was deleted under a running airlock (writer-thread.ts).
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './schema.ts';

export function openStoreFile(file: string): Database.Database {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // The store holds what agents sent: owner-only, and SQLite gives -wal/-shm the same mode.
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  fs.chmodSync(file, 0o600);
  const db = new Database(file);
  try {
    // A new store gives freed pages back to the file system (retention runs incremental_vacuum).
    // auto_vacuum can only be chosen before the first table exists, and before WAL is enabled.
    // 16 KiB pages suit rows that carry headers and bodies (bench/writer.ts: +19% inserts).
    if (db.pragma('user_version', { simple: true }) === 0 && db.pragma('page_count', { simple: true }) === 0) {
      db.pragma('page_size = 16384');
      db.pragma('auto_vacuum = INCREMENTAL');
    }
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Before a new store is created where one was deleted: its -wal and -shm belong to the deleted
 * file, and SQLite would read the old WAL's pages into the new database. Only once every
 * connection of this process to the deleted file is closed.
 */
export function removeOrphanedSidecars(file: string): void {
  if (fs.existsSync(file)) return;
  for (const suffix of ['-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
}
