// Real small file systems for tests of a store whose disk fills up or fails: a tmpfs with size=,
// or ext4 on a loop device (which an error turns read-only, as errors=remount-ro does in
// production). Needs root, like the netns tests. Every mount is registered; cleanupSmallFs()
// (afterEach/afterAll) unmounts and removes them, even after a failed test.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SmallFs {
  dir: string;
  /** Bytes free for an unprivileged writer (statfs bavail). */
  free(): number;
  /** Writes a filler file until the file system is full, then gives `leave` bytes back. */
  fill(leave?: number): void;
  /** Removes the filler. */
  unfill(): void;
}

const mounted: { dir: string; image?: string }[] = [];

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('this test mounts a file system: run it as root (npm run test:setup; the CI runs as root)');
}

function handle(dir: string): SmallFs {
  const filler = path.join(dir, 'filler');
  return {
    dir,
    free() {
      const s = fs.statfsSync(dir);
      return s.bavail * s.bsize;
    },
    fill(leave = 0) {
      const fd = fs.openSync(filler, 'a');
      const chunk = Buffer.alloc(1024 * 1024, 0x5a);
      try {
        for (;;) fs.writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
      // The last partial chunk: byte-sized writes until nothing fits.
      try {
        for (let n = 64 * 1024; n >= 1; n = Math.floor(n / 2)) {
          try {
            for (;;) fs.writeSync(fd, chunk.subarray(0, n));
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          }
        }
      } finally {
        fs.closeSync(fd);
      }
      if (leave > 0) fs.truncateSync(filler, Math.max(0, fs.statSync(filler).size - leave));
    },
    unfill() {
      fs.rmSync(filler, { force: true });
    },
  };
}

/** A tmpfs of `bytes`, mounted on a new temp dir. */
export function mountTmpfs(bytes: number): SmallFs {
  requireRoot();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-smallfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir]);
  mounted.push({ dir });
  return handle(dir);
}

/**
 * ext4 (errors=remount-ro) on a loop device over an image of `bytes`; fail() makes it read-only as
 * a real fs error would. With `backing`, the (sparse) image lives on a tmpfs of that many bytes:
 * once that fills, the device fails writes with I/O errors, as a thin-provisioned volume that ran
 * out of space does.
 */
export function mountExt4(bytes: number, backing?: number): SmallFs & { fail(): void } {
  requireRoot();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-ext4-'));
  let image = `${dir}.img`;
  if (backing) {
    const under = mountTmpfs(backing);
    image = path.join(under.dir, 'volume.img');
  }
  fs.writeFileSync(image, '');
  fs.truncateSync(image, bytes);
  execFileSync('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=1,lazy_journal_init=1', image]);
  execFileSync('mount', ['-o', 'loop,errors=remount-ro', image, dir]);
  mounted.push({ dir, image });
  const device = execFileSync('findmnt', ['-n', '-o', 'SOURCE', dir], { encoding: 'utf8' }).trim();
  return {
    ...handle(dir),
    fail() {
      // The kernel's own test hook: an ext4 error, after which errors=remount-ro makes the file system read-only.
      fs.writeFileSync(`/sys/fs/ext4/${path.basename(device)}/trigger_fs_error`, 'airlock test: simulated file system error');
    },
  };
}

/** Unmounts (lazily if a process still holds a file there) and removes every file system made here. */
export function cleanupSmallFs(): void {
  for (const m of mounted.splice(0).reverse()) {
    try {
      execFileSync('umount', [m.dir], { stdio: 'ignore' });
    } catch {
      execFileSync('umount', ['-l', m.dir], { stdio: 'ignore' });
    }
    fs.rmSync(m.dir, { recursive: true, force: true });
    if (m.image) fs.rmSync(m.image, { force: true });
  }
}
