// Can the store take writes? Checks the writer thread runs before and after each batch and once a
// second (cheap: stat, access, utimes, statfs), the recovery probe (a small file written and fsynced next
// to the store), and the classification of a failed write: a problem of the store's file system
// (full, read-only, I/O errors, the file deleted, locked) or of the batch itself.
// Plain CommonJS so it runs from source and bundle alike.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

/** store.min_free when the policy does not set it: 1 GiB or 5 % of the file system, whichever is smaller. */
const DEFAULT_FLOOR_BYTES = 1024 ** 3;
const DEFAULT_FLOOR_SHARE = 0.05;
const PROBE_BYTES = 4096;

/** The free space airlock keeps on the store's file system; at or below it the store counts as full. */
function floorOf(statfs, minFree) {
  const total = statfs.blocks * statfs.bsize;
  if (minFree && minFree.bytes !== undefined) return minFree.bytes;
  if (minFree && minFree.percent !== undefined) return Math.floor((total * minFree.percent) / 100);
  return Math.min(DEFAULT_FLOOR_BYTES, Math.floor(total * DEFAULT_FLOOR_SHARE));
}

function mib(n) {
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

/**
 * What a failed write says about the store: { kind, message } when the file system or the store
 * file is at fault (the batch waits and is retried), null when the batch itself was refused (a
 * constraint, a malformed row: retrying it would fail forever).
 */
function classify(err) {
  const code = String((err && err.code) || '');
  const message = String((err && err.message) || err);
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return { kind: 'full', message };
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_PERM') || code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
    return { kind: 'readonly', message };
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return { kind: 'busy', message };
  if (
    code.startsWith('SQLITE_IOERR') ||
    code.startsWith('SQLITE_CORRUPT') ||
    code.startsWith('SQLITE_CANTOPEN') ||
    code === 'SQLITE_NOTADB' ||
    code === 'SQLITE_NOMEM' ||
    code === 'EIO' ||
    code === 'ENOENT'
  ) {
    return { kind: 'io', message };
  }
  return null;
}

function createSpaceCheck(file, minFree) {
  const dir = path.dirname(file);
  let identity = null;
  let last = { free: NaN, floor: NaN };

  /** Remembers which file the writer opened, so a deleted or replaced one is noticed. */
  function opened() {
    const s = fs.statSync(file);
    identity = { dev: s.dev, ino: s.ino };
  }

  /** The file at the store's path, if it is still the one the writer has open. */
  function current() {
    if (!identity) return null;
    try {
      const s = fs.statSync(file);
      return s.dev === identity.dev && s.ino === identity.ino ? s : null;
    } catch {
      return null;
    }
  }

  function sameFile() {
    return current() !== null;
  }

  function space() {
    const s = fs.statfsSync(dir);
    last = { free: s.bavail * s.bsize, floor: floorOf(s, minFree) };
    return last;
  }

  /**
   * A file system an error made read-only answers access() as if writable (ext4's
   * errors=remount-ro), but refuses setting the file's times: the cheapest write there is. The
   * times are set to what they are (to the millisecond), so an idle store does not look modified.
   */
  function touch(s) {
    try {
      fs.utimesSync(file, s.atime, s.mtime);
    } catch (err) {
      // Setting times needs the file's owner; a store someone else owns is not a failing one.
      if (err.code !== 'EPERM' && err.code !== 'EACCES') throw err;
    }
  }

  /** Null when the store looks writable: no data is written, only the file's times. */
  function check() {
    const s = current();
    if (!s) return { kind: 'deleted', message: `the store file ${file} was deleted or replaced` };
    try {
      fs.accessSync(file, fs.constants.W_OK);
      touch(s);
      const { free, floor } = space();
      if (free <= floor) {
        const message =
          floor === 0 ? "no space left on the store's file system" : `${mib(free)} free on the store's file system, at or below the floor of ${mib(floor)} (store.min_free)`;
        return { kind: 'full', message };
      }
    } catch (err) {
      return classify(err) || { kind: 'io', message: String(err && err.message) };
    }
    return null;
  }

  /** check(), then a small file written, fsynced and removed next to the store: recovery is seen, not assumed. */
  function probe() {
    const p = check();
    if (p) return { problem: p, wrote: false };
    const name = `${file}-probe`;
    let fd;
    try {
      fd = fs.openSync(name, 'w', 0o600);
      fs.writeSync(fd, Buffer.alloc(PROBE_BYTES));
      fs.fsyncSync(fd);
      return { problem: null, wrote: true };
    } catch (err) {
      return { problem: classify(err) || { kind: 'io', message: String(err && err.message) }, wrote: true };
    } finally {
      try {
        if (fd !== undefined) fs.closeSync(fd);
        fs.rmSync(name, { force: true });
      } catch {
        // the write's own error (above) is the one that matters
      }
    }
  }

  return { opened, sameFile, check, probe, space, last: () => last };
}

module.exports = { classify, createSpaceCheck, floorOf, DEFAULT_FLOOR_BYTES, DEFAULT_FLOOR_SHARE };
