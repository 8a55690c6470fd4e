// `airlock start --reload-on-change`: the policy file is looked at every few seconds and reloaded
// (as SIGHUP does) when its content changed. Made for a policy mounted from a Kubernetes ConfigMap,
// which is updated by swapping a symlink: the file's identity changes, not its path, so the file
// is stat()ed (following links) rather than watched with inotify, and only a change of content
// (its sha256) counts.
import crypto from 'node:crypto';
import fs from 'node:fs';

export function watchPolicy(file: string, reload: () => void, intervalMs = 2000): () => void {
  const digest = (): string | null => {
    try {
      return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    } catch {
      return null; // gone for a moment (an editor's rename): looked at again next time
    }
  };
  const stamp = (): string => {
    try {
      const s = fs.statSync(file);
      return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return 'missing';
    }
  };
  let lastStamp = stamp();
  let lastDigest = digest();
  const timer = setInterval(() => {
    const now = stamp();
    if (now === lastStamp) return;
    lastStamp = now;
    const d = digest();
    if (d === null || d === lastDigest) return;
    lastDigest = d;
    reload();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
