// vitest globalSetup: a directory for the run's shared PostgreSQL cluster (test/helpers/postgres.ts
// sharedPostgres). Nothing starts here: the first test file that needs the cluster starts it, so
// runs without such a file cost nothing. At the end of the run the cluster is stopped and removed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';

export default function setup(project: TestProject): () => void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-pg-shared-'));
  project.provide('airlockPgDir', dir);
  return () => {
    const data = path.join(dir, 'data');
    if (fs.existsSync(path.join(data, 'postmaster.pid'))) {
      // The server process runs as the owner of the data dir (postgres, when tests run as root).
      const st = fs.statSync(data);
      const bin = fs.readFileSync(path.join(data, 'postmaster.opts'), 'utf8').split(' ')[0].replace(/"/g, '');
      spawnSync(path.join(path.dirname(bin), 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], { uid: st.uid, gid: st.gid, stdio: 'ignore' });
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
}
