// Files shipped with airlock, found from this module whether it runs from source or the bundle.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageFile(rel: string): string {
  if (!root) {
    let dir = path.dirname(fileURLToPath(import.meta.url));
    while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
    root = dir;
  }
  return path.join(root, rel);
}
