// A real PostgreSQL server for tests (Debian's postgresql package, installed by
// .ci/install-system-deps.sh): a throw-away cluster made with initdb in a temp dir and run with
// pg_ctl on a free loopback port, as the `postgres` user when the tests run as root (initdb
// refuses root). Password authentication (scram-sha-256), so tests see that the password in the
// URL never reaches a log, a page or an export.
// sharedPostgres(): one cluster for the whole run, started by the first test file that needs it
// (vitest globalSetup postgres-setup.ts stops it at the end); each file makes its own databases.
// startPostgres(): a cluster of the test's own, for tests that stop and start the server.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { freePort } from './dns.ts';

export const PG_PASSWORD = 'airlock-test-pw-5f0c1e';
const USER = 'airlock';

export interface TestPostgres {
  dir: string;
  port: number;
  /** postgres://airlock:PASSWORD@127.0.0.1:PORT/DB */
  url(db?: string): string;
  /** A new, empty database of this cluster; dropped by drop() (and with the cluster). */
  createDatabase(prefix?: string): Promise<TestDatabase>;
  /** Runs SQL as the cluster's owner on a database (tests use it to change rows behind airlock's back). */
  query<T = Record<string, unknown>>(db: string, sql: string, params?: unknown[]): Promise<T[]>;
  /** pg_ctl stop: fast (connections closed, clean shutdown) or immediate (like a crash). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  running(): boolean;
  /** Stops the server and removes its files. */
  destroy(): void;
}

export interface TestDatabase {
  name: string;
  url: string;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

/** initdb, pg_ctl, ...: the newest server version installed from Debian's packages (or AIRLOCK_PG_BIN). */
function binDir(): string {
  if (process.env.AIRLOCK_PG_BIN) return process.env.AIRLOCK_PG_BIN;
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, 'bin', 'initdb'))) : [];
  if (!versions.length) throw new Error('PostgreSQL server programs are not installed (no /usr/lib/postgresql/*/bin/initdb): run `npm run test:setup`');
  versions.sort((a, b) => Number(b) - Number(a));
  return path.join(base, versions[0], 'bin');
}

/** Who runs the server: `postgres` when we are root (initdb refuses root), else ourselves. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** The same, without blocking this process (a test's load keeps running meanwhile). */
function pgRunAsync(bin: string, args: string[], who: { uid: number; gid: number } | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(path.join(binDir(), bin), args, { ...(who ?? {}), env: { ...process.env, LC_ALL: 'C.UTF-8' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (out += c));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${bin} ${args.join(' ')} failed (${code}): ${out}`))));
  });
}

function pgRun(bin: string, args: string[], who: { uid: number; gid: number } | undefined): void {
  const r = spawnSync(path.join(binDir(), bin), args, { ...(who ?? {}), encoding: 'utf8', timeout: 60_000, env: { ...process.env, LC_ALL: 'C.UTF-8' } });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
}

/** A new cluster in `dir` (created), listening on 127.0.0.1:PORT with its socket in `dir`. */
export async function startPostgres(dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-pg-')), opts: { durable?: boolean } = {}): Promise<TestPostgres> {
  const who = runAs();
  if (who) fs.chownSync(dir, who.uid, who.gid);
  const pwfile = path.join(dir, 'pw');
  fs.writeFileSync(pwfile, PG_PASSWORD, { mode: 0o600 });
  if (who) fs.chownSync(pwfile, who.uid, who.gid);
  pgRun('initdb', ['-D', path.join(dir, 'data'), '-U', USER, '--pwfile', pwfile, '-A', 'scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8', '-N', '--no-instructions'], who);
  fs.rmSync(pwfile);
  const c = cluster(dir, await freePort(), who, opts.durable);
  await c.start();
  return c;
}

/** The cluster whose data dir is `dir`/data, served on `port`. */
function cluster(dir: string, port: number, who: { uid: number; gid: number } | undefined, durable = false): TestPostgres {
  const data = path.join(dir, 'data');
  // fsync off: nothing here tests PostgreSQL's own crash safety, and CI time matters. Benches ask
  // for PostgreSQL's defaults (durable), so their figures mean what they would in production.
  const fast = durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off';
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1${fast} -c max_connections=200`;
  const url = (db = 'postgres') => `postgres://${USER}:${PG_PASSWORD}@127.0.0.1:${port}/${db}`;
  const query = async <T,>(db: string, sql: string, params: unknown[] = []): Promise<T[]> => {
    const c = new pg.Client({ connectionString: url(db) });
    await c.connect();
    try {
      return (await c.query(sql, params)).rows as T[];
    } finally {
      await c.end();
    }
  };
  const running = () => fs.existsSync(path.join(data, 'postmaster.pid'));
  let n = 0;
  return {
    dir,
    port,
    url,
    query,
    running,
    async createDatabase(prefix = 'airlock_test') {
      const name = `${prefix}_${process.pid}_${++n}_${Math.random().toString(36).slice(2, 8)}`;
      await query('postgres', `CREATE DATABASE ${name}`);
      return {
        name,
        url: url(name),
        query: <T,>(sql: string, params?: unknown[]) => query<T>(name, sql, params),
        drop: async () => {
          if (running()) await query('postgres', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        },
      };
    },
    async stop(mode = 'fast') {
      if (running()) await pgRunAsync('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop'], who);
    },
    start: () => pgRunAsync('pg_ctl', ['-D', data, '-o', opts, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start'], who),
    destroy() {
      try {
        if (running()) pgRun('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '60', 'stop'], who);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where the run's shared cluster lives once a test file started it (test/helpers/postgres-setup.ts). */
    airlockPgDir: string;
  }
}

let shared: Promise<TestPostgres> | undefined;

/**
 * The run's shared cluster: started by the first test file that asks (test files run one at a
 * time), reused by the next ones through the port it wrote down, stopped at the end of the run.
 */
export function sharedPostgres(): Promise<TestPostgres> {
  return (shared ??= (async () => {
    const dir = inject('airlockPgDir');
    const portFile = path.join(dir, 'port');
    let c: TestPostgres;
    if (fs.existsSync(portFile)) c = cluster(dir, Number(fs.readFileSync(portFile, 'utf8')), runAs());
    else {
      c = await startPostgres(dir);
      fs.writeFileSync(portFile, String(c.port));
    }
    // Stopped once, at the end of the run (postgres-setup.ts), never by a test file.
    return {
      ...c,
      destroy() {},
      stop() {
        throw new Error('the shared cluster is not stopped by a test: use startPostgres()');
      },
    };
  })());
}
