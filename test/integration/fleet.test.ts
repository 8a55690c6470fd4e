// A fleet: several `airlock start` processes writing one audit trail into a real PostgreSQL, read
// by `airlock flows` and by the web UI running as its own process (`airlock ui --config`), which
// needs neither the proxies nor their API keys. Each flow names the instance that handled it;
// `flows verify` checks each instance's chain and catches a changed row and a changed chunk two
// instances share; instances starting together migrate the schema once; the database password
// never shows.
import fs from 'node:fs';
import path from 'node:path';
import { ProxyAgent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeIds, unpack } from '../../proxy/store/bodies.ts';
import { startTestAirlock, tempDir } from '../helpers/airlock.ts';
import { BIN, children } from '../helpers/cli.ts';
import { eventually, type Instance, startInstance, startUiProcess, type UiProcess } from '../helpers/fleet.ts';
import { PG_PASSWORD, sharedPostgres, type TestDatabase } from '../helpers/postgres.ts';
import { run } from '../helpers/run.ts';
import { uiGet, uiLogin } from '../helpers/ui.ts';
import { startTlsUpstream, type TestUpstream } from '../helpers/upstream.ts';

const HOST = 'api.test';
let up: TestUpstream;
let policy: string;
let pkiDir: string;
const dbs: TestDatabase[] = [];
const roles: string[] = [];
const running: { close(): Promise<void> }[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  pkiDir = tempDir('airlock-fleet-pki-');
  const u = await startTlsUpstream(pkiDir, [HOST, 'late.test']);
  up = u.up;
  policy = `upstream:
  ca_files: [${u.pki.caCert}]
  resolve: { ${HOST}: ${u.ip}, late.test: ${u.ip} }
hosts:
  - match: ${HOST}
`;
});

afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.close();
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

afterAll(async () => {
  await up?.close();
  for (const d of dbs) await d.drop();
  const cluster = await sharedPostgres();
  for (const r of roles) await cluster.query('postgres', `DROP ROLE IF EXISTS ${r}`);
  for (const d of [pkiDir, ...dirs]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

async function database(): Promise<TestDatabase> {
  const d = await (await sharedPostgres()).createDatabase('airlock_fleet');
  dbs.push(d);
  return d;
}

async function instance(name: string, pgUrl: string, more: Partial<Parameters<typeof startInstance>[0]> = {}): Promise<Instance> {
  const i = await startInstance({ name, pgUrl, policy, ...more });
  running.push(i);
  dirs.push(i.dir);
  return i;
}

/** A policy for readers only (`airlock flows`, `airlock ui`): the store section, nothing else. */
function readerDir(): string {
  const dir = tempDir('airlock-fleet-reader-');
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, 'policy.yaml'), 'store:\n  postgres:\n    url: env:AIRLOCK_PG_URL\n');
  return dir;
}

const flows = (dir: string, pgUrl: string, ...args: string[]) => run(process.execPath, [BIN, 'flows', ...args, '--config', path.join(dir, 'policy.yaml')], { env: { AIRLOCK_PG_URL: pgUrl } });

describe('two airlock instances, one PostgreSQL', () => {
  it('both record into one trail; flows list and the UI (its own process) show and filter by instance; verify checks both chains and catches changes', async () => {
    const db = await database();
    const [a, b] = await Promise.all([instance('pod-a', db.url), instance('pod-b', db.url)]);
    // The same conversation through both: its message is one chunk both instances' flows share.
    const shared = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `shared context ${'s'.repeat(2000)}` }] });
    for (let i = 0; i < 5; i++) {
      expect((await a.send(`https://${HOST}/echo?from=a&i=${i}`)).status).toBe(200);
      expect((await b.send(`https://${HOST}/echo?from=b&i=${i}`)).status).toBe(200);
    }
    expect((await a.send(`https://${HOST}/upload?from=a`, { method: 'POST', body: shared, headers: { 'content-type': 'application/json' } })).status).toBe(200);
    expect((await b.send(`https://${HOST}/upload?from=b`, { method: 'POST', body: shared, headers: { 'content-type': 'application/json' } })).status).toBe(200);
    expect((await b.send('https://denied.test/')).status).toBe(403);
    const count = async () => Number((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM airlock.flows'))[0].n);
    await eventually(async () => (await count()) === 13, 20_000, 'all 13 flows in PostgreSQL');

    // `airlock flows`, with only the store section of a policy and the URL in its environment.
    const reader = readerDir();
    const list = await flows(reader, db.url, 'list', '--limit', '100');
    expect(list.code, list.stderr).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines).toHaveLength(13);
    expect(lines.filter((l) => /\bpod-a\s+GET https:\/\/api\.test\/echo\?from=a/.test(l))).toHaveLength(5);
    expect(lines.filter((l) => /\bpod-b\s+GET https:\/\/api\.test\/echo\?from=b/.test(l))).toHaveLength(5);
    const onlyB = await flows(reader, db.url, 'list', '--instance', 'pod-b');
    expect(onlyB.stdout.trim().split('\n')).toHaveLength(7);
    expect(onlyB.stdout).not.toContain('pod-a');
    const show = await flows(reader, db.url, 'show', lines.find((l) => l.includes('from=b'))!.trim().split(/\s+/)[0]);
    expect(show.stdout).toMatch(/^ {2}instance pod-b$/m);

    // The UI on its own, over the same store, as a role that may only read (docs/deploy.md):
    // both instances' flows, filtered by instance.
    const role = `airlock_ui_${process.pid}`;
    await db.query(`CREATE ROLE ${role} LOGIN PASSWORD '${PG_PASSWORD}'`);
    roles.push(role);
    for (const grant of [
      `GRANT CONNECT ON DATABASE ${db.name} TO ${role}`,
      `GRANT USAGE ON SCHEMA airlock TO ${role}`,
      `GRANT SELECT ON ALL TABLES IN SCHEMA airlock TO ${role}`,
    ]) {
      await db.query(grant);
    }
    const readOnlyUrl = db.url.replace(/^postgres:\/\/[^:]+:/, `postgres://${role}:`);
    const ui: UiProcess = await startUiProcess(reader, { AIRLOCK_PG_URL: readOnlyUrl });
    running.push(ui);
    const s = await uiLogin(ui.base, ui.token);
    const page = await uiGet(s, '/flows');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<th class="opt">Instance</th>');
    expect(page.text.match(/<td class="opt instance" title="pod-a">pod-a<\/td>/g)).toHaveLength(6);
    expect(page.text.match(/<td class="opt instance" title="pod-b">pod-b<\/td>/g)).toHaveLength(7);
    expect(page.text).toMatch(/<option value="pod-b">pod-b<\/option>/);
    const onlyA = await uiGet(s, '/flows?instance=pod-a');
    expect(onlyA.text.match(/title="pod-a">pod-a<\/td>/g)).toHaveLength(6);
    expect(onlyA.text).not.toContain('>pod-b</td>');
    const api = await request(`${ui.base}/api/flows?instance=pod-b&limit=50`, { headers: { authorization: `Bearer ${ui.token}` } });
    const body = (await api.body.json()) as { flows: { instance: string; url: string | null }[] };
    expect(body.flows).toHaveLength(7);
    expect(body.flows.every((f) => f.instance === 'pod-b')).toBe(true);
    const detail = await uiGet(s, `/flows/${lines[0].trim().split(/\s+/)[0]}`);
    expect(detail.text).toMatch(/<th>Instance<\/th>\s*<td class="mono">pod-[ab]<\/td>/);

    // verify: both chains; a changed row, then a changed chunk both instances' flows share.
    const ok = await flows(reader, db.url, 'verify');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^ok: 13 flows verified in 2 chains$/m);
    expect(ok.stdout).toMatch(/^ {2}instance pod-a: 6 flows, head [0-9a-f]{64}$/m);
    expect(ok.stdout).toMatch(/^ {2}instance pod-b: 7 flows, head [0-9a-f]{64}$/m);
    const victim = (await db.query<{ id: number }>("SELECT id FROM airlock.flows WHERE instance = 'pod-b' AND query = 'from=b&i=2'"))[0].id;
    await db.query("UPDATE airlock.flows SET status = 201 WHERE id = $1", [victim]);
    const bad = await flows(reader, db.url, 'verify');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`flow ${victim}: hash mismatch (row changed after it was written)`);
    await db.query('UPDATE airlock.flows SET status = 200 WHERE id = $1', [victim]);
    expect((await flows(reader, db.url, 'verify')).code).toBe(0);

    // The shared message's chunk: stored once, referred to by both instances' flows.
    const uploads = await db.query<{ instance: string; chunks: Buffer }>(
      "SELECT f.instance, b.chunks FROM airlock.flows f JOIN airlock.bodies b ON b.flow_id = f.id AND b.direction = 'request' WHERE f.path = '/upload' ORDER BY f.instance",
    );
    expect(uploads.map((u) => u.instance)).toEqual(['pod-a', 'pod-b']);
    const common = decodeIds(uploads[0].chunks).filter((id) => decodeIds(uploads[1].chunks).includes(id));
    const rows = await db.query<{ id: number; owner: number; data: Buffer; deflated: number }>('SELECT id, owner, data, deflated FROM airlock.chunks WHERE id = ANY($1::bigint[])', [common]);
    const chunk = rows.find((c) => unpack(c.data, c.deflated).includes('shared context'))!;
    expect(chunk).toBeDefined();
    const before = (await db.query<{ data: Buffer }>('SELECT data FROM airlock.chunks WHERE id = $1', [chunk.id]))[0].data;
    await db.query("UPDATE airlock.chunks SET data = decode('00', 'hex') WHERE id = $1", [chunk.id]);
    const badChunk = await flows(reader, db.url, 'verify');
    expect(badChunk.code).toBe(1);
    expect(badChunk.stderr).toContain(`body chunk ${chunk.id} (first stored by flow ${chunk.owner}, shared by every flow that sent it again) changed after it was written`);
    await db.query('UPDATE airlock.chunks SET data = $2 WHERE id = $1', [chunk.id, before]);
    expect((await flows(reader, db.url, 'verify')).code).toBe(0);

    // The database password never shows: not in a page, the API, the CLI, or any process's output.
    await Promise.all([a.close(), b.close(), ui.close()]);
    for (const text of [page.text, onlyA.text, JSON.stringify(body), list.stdout, list.stderr, ok.stdout, bad.stderr, a.out(), a.err(), b.out(), b.err(), ui.out()]) {
      expect(text).not.toContain(PG_PASSWORD);
    }
  });

  it("an instance's own UI reads PostgreSQL too; its policy page names the URL's source, never the URL", async () => {
    const db = await database();
    const dir = tempDir('airlock-fleet-solo-');
    dirs.push(dir);
    const a = await startTestAirlock(
      `listen:\n  proxy: 127.0.0.1:0\n  ui: 127.0.0.1:0\nstore:\n  instance: solo\n  postgres:\n    url: env:AIRLOCK_PG_URL\n${policy}`,
      { AIRLOCK_PG_URL: db.url },
      dir,
    );
    running.push({ close: () => a.close() });
    const agent = new ProxyAgent({ uri: a.proxyUrl, requestTls: { ca: a.caPem } });
    const r = await request(`https://${HOST}/echo?solo=1`, { dispatcher: agent });
    await r.body.text();
    expect(r.statusCode).toBe(200);
    // Two turns of one conversation: a session of two turns, written to and read from PostgreSQL.
    const talk = ['where is the report', 'in the bucket', 'fetch it'];
    for (const n of [1, 3]) {
      const body = JSON.stringify({ model: 'claude-test', max_tokens: 5, messages: talk.slice(0, n).map((content, i) => ({ role: i % 2 ? 'assistant' : 'user', content })) });
      const c = await request(`https://${HOST}/v1/messages`, { dispatcher: agent, method: 'POST', body, headers: { 'content-type': 'application/json' } });
      await c.body.text();
      expect(c.statusCode).toBe(200);
    }
    await agent.close();
    await a.store.flush();
    expect(await db.query('SELECT turn, messages, new_from FROM airlock.session_turns ORDER BY turn')).toEqual([
      { turn: 1, messages: 1, new_from: 0 },
      { turn: 2, messages: 3, new_from: 1 },
    ]);
    const s = await uiLogin(`http://${a.addresses.ui!.address}`, a.uiToken!);
    const page = await uiGet(s, '/flows');
    expect(page.text).toContain('solo=1');
    const pol = await uiGet(s, '/policy');
    expect(pol.text).toMatch(/PostgreSQL, schema <span class="mono">airlock<\/span>, URL from <span class="mono">env:AIRLOCK_PG_URL<\/span>/);
    expect(pol.text).toContain('<td class="mono">solo</td>');
    const sessions = await uiGet(s, '/sessions');
    expect(sessions.status).toBe(200);
    const id = /href="\/sessions\/(\d+)"/.exec(sessions.text)![1];
    const one = await uiGet(s, `/sessions/${id}`);
    expect(one.status).toBe(200);
    const turn = await uiGet(s, `/sessions/${id}/turns/2`);
    expect(turn.status).toBe(200);
    expect(turn.text).toContain('fetch it');
    const agents = await uiGet(s, '/agents');
    expect(agents.status).toBe(200);
    expect(agents.text).toContain('listener:');
    for (const text of [page.text, pol.text, sessions.text, one.text, turn.text, agents.text]) expect(text).not.toContain(PG_PASSWORD);
    // airlock sessions reads them from PostgreSQL too, given only the store section.
    const reader = path.join(readerDir(), 'policy.yaml');
    const list = await run(process.execPath, [BIN, 'sessions', 'list', '--config', reader], { env: { AIRLOCK_PG_URL: db.url } });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/ {2}turns 2 /);
    const har = await run(process.execPath, [BIN, 'sessions', 'export', '--format', 'har', '--session', id, '--config', reader], { env: { AIRLOCK_PG_URL: db.url } });
    expect(har.code, har.stderr).toBe(0);
    expect(JSON.parse(har.stdout).log.entries).toHaveLength(2);
    // airlock policy suggest reads SQLite only: it says so, naming the policy's store.postgres.
    const suggest = await run(process.execPath, [BIN, 'policy', 'suggest', '--config', reader], { env: { AIRLOCK_PG_URL: db.url } });
    expect(suggest.code).not.toBe(0);
    expect(suggest.stderr).toContain('store.postgres');
    expect(suggest.stderr).not.toContain(PG_PASSWORD);
  });

  it('two instances on one PostgreSQL enforce one per-minute request budget together (shares claimed in PostgreSQL)', async () => {
    // All requests in one minute window.
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 25_000) await new Promise((r) => setTimeout(r, left + 50));
    const db = await database();
    const budgets = `${policy}budgets:\n  - name: rpm\n    requests_per_minute: 6\n`;
    const [one, two] = await Promise.all([instance('one', db.url, { policy: budgets }), instance('two', db.url, { policy: budgets })]);
    const statuses: [string, number][] = [];
    for (let i = 0; i < 12; i++) {
      const via = i % 2 ? two : one;
      const ca = path.join(via.dir, 'ca-for-curl.pem');
      fs.writeFileSync(ca, via.caPem);
      const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', '--cacert', ca, '-x', via.proxyUrl, '--proxy-user', 'erin:x', `https://${HOST}/echo?n=${i}`]);
      statuses.push([via.name, Number(r.stdout)]);
    }
    // Six in the minute for agent erin, whichever instance served them; every request after refused by either.
    expect(statuses.filter(([, st]) => st === 200)).toHaveLength(6);
    expect(statuses.slice(6).map(([, st]) => st)).toEqual([429, 429, 429, 429, 429, 429]);
    expect(new Set(statuses.filter(([, st]) => st === 200).map(([n]) => n))).toEqual(new Set(['one', 'two']));
    const counters = await db.query<{ budget: string; agent: string; used: number }>('SELECT budget, agent, used::int AS used FROM airlock.budget_counters');
    expect(counters).toEqual([{ budget: 'rpm', agent: 'erin', used: 6 }]);
    await eventually(
      async () => Number((await db.query<{ n: number }>("SELECT count(*)::int AS n FROM airlock.flows WHERE code = 'budget_exhausted'"))[0].n) === 6,
      20_000,
      'the refusals recorded',
    );
  });

  it('instances starting together migrate the schema once', async () => {
    const db = await database();
    // Both instances reach the schema check at the same moment: the test holds a lock on the
    // version table they read first, and lets go once both are waiting.
    await db.query('CREATE SCHEMA airlock');
    await db.query('CREATE TABLE airlock.airlock_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now(), applied_by text NOT NULL)');
    const pg = await import('pg');
    const holder = new pg.default.Client({ connectionString: db.url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE airlock.airlock_schema IN ACCESS EXCLUSIVE MODE');
    const starting = Promise.all([instance('one', db.url), instance('two', db.url)]);
    await eventually(
      async () => Number((await db.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'airlock writer %' AND wait_event_type = 'Lock'"))[0].n) >= 1,
      20_000,
      'an instance waiting on the schema',
    );
    await new Promise((r) => setTimeout(r, 500));
    await holder.query('COMMIT');
    await holder.end();
    const [one, two] = await starting;
    for (const i of [one, two]) expect((await i.send(`https://${HOST}/echo?from=${i.name}`)).status).toBe(200);
    await eventually(async () => Number((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM airlock.flows'))[0].n) === 2, 20_000, 'both flows');
    await Promise.all([one.close(), two.close()]);
    const versions = await db.query<{ version: number; applied_by: string }>('SELECT version, applied_by FROM airlock.airlock_schema');
    // Every version applied once, all by the same instance.
    expect(versions.map((v) => v.version).sort()).toEqual([1, 2]);
    expect(new Set(versions.map((v) => v.applied_by)).size).toBe(1);
    const logs = [one.out(), two.out()];
    expect(logs.filter((l) => l.includes('"msg":"PostgreSQL flow store schema migrated"'))).toHaveLength(1);
    expect(logs.join('\n')).toContain(`"instance":"${versions[0].applied_by}"`);
    // Neither saw an error: the other one waited, then found the schema current.
    for (const l of logs) expect(l).not.toMatch(/"level":"error"/);
  });

  it('--reload-on-change: a policy rewritten in place (as a ConfigMap is) is applied without a signal', async () => {
    const db = await database();
    const a = await instance('watcher', db.url, { args: ['--reload-on-change'] });
    expect((await a.send('https://late.test/echo')).status).toBe(403);
    const file = path.join(a.dir, 'policy.yaml');
    // A ConfigMap update swaps a symlink: a new file at the same path.
    fs.writeFileSync(`${file}.new`, fs.readFileSync(file, 'utf8').replace(`  - match: ${HOST}\n`, `  - match: ${HOST}\n  - match: late.test\n`));
    fs.renameSync(`${file}.new`, file);
    await eventually(async () => (await a.send('https://late.test/echo')).status === 200, 15_000, 'the new host allowed');
    expect(a.out()).toMatch(/"msg":"policy reloaded".*"on":"change"/);
  });
});
