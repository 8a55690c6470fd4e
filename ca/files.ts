// File writes for CA material: private from the first byte, never clobbering by accident.
import { chmodSync, closeSync, existsSync, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

/**
 * Creates `dir` as 0700. mkdir's mode is filtered by the umask, so chmod afterwards;
 * an existing directory is only tightened when `own` says the directory is ours alone.
 */
export function makePrivateDir(dir: string, own: boolean): void {
  const existed = existsSync(dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existed || own) chmodSync(dir, 0o700);
}

/** O_CREAT|O_EXCL: fails if the path exists (a symlink included), and the mode applies at creation. */
export function writeNewFile(path: string, data: string | Uint8Array, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    fchmodSync(fd, mode); // the umask may have removed bits we want, e.g. 0644 for the cert
    writeFileSync(fd, data); // loops until every byte is written
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a private temporary file beside `path` and renames it over, so readers see old or new. */
export function replaceFile(path: string, data: string | Uint8Array, mode: number): void {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeNewFile(tmp, data, mode);
  try {
    renameSync(tmp, path);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
}
