// airlock policy replay|suggest and airlock flows export, run as the operator runs them (the bin,
// separate processes, pipes) over stores written by the real FlowStore.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BodyCapture } from '../../proxy/capture.ts';
import { type Flow, newFlow } from '../../proxy/flow.ts';
import type { Finding } from '../../proxy/dlp/stream.ts';
import { FlowStore } from '../../proxy/store/writer.ts';
import { startTestAirlock, tempDir } from '../helpers/airlock.ts';
import { BIN } from '../helpers/cli.ts';
import { run } from '../helpers/run.ts';
import { startTlsUpstream } from '../helpers/upstream.ts';

const airlock = (args: string[], cwd?: string) => run(process.execPath, [BIN, ...args], { cwd });
let dir: string;

beforeAll(() => {
  dir = tempDir();
});

function flow(fields: Partial<Flow>): Flow {
  return newFlow({ entry: 'explicit', listener: '127.0.0.1:8080', client: '127.0.0.1:5000', scheme: 'https', port: 443, protocol: 'h1', ...fields });
}

async function storeWith(name: string, flows: Flow[]): Promise<string> {
  const file = path.join(dir, name, 'flows.sqlite');
  const s = new FlowStore(file);
  for (const f of flows) s.record(f);
  await s.close();
  return file;
}

function writePolicy(name: string, yaml: string): string {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, `listen:\n  proxy: 127.0.0.1:0\n${yaml}`);
  return file;
}

describe('airlock flows export piped', () => {
  it('a 1,000-flow export through a pipe has exactly the bytes of the file export', async () => {
    const flows = Array.from({ length: 1000 }, (_, i) => {
      const f = flow({ method: 'POST', host: 'api.test', path: `/v1/items/${i}`, decision: 'allow', status: 200, ruleId: 'api' });
      const request = new BodyCapture(1 << 20);
      request.add(Buffer.from(JSON.stringify({ i, text: 'x'.repeat(900) })));
      f.requestHeaders = { 'content-type': 'application/json' };
      f.bodies = { request, response: new BodyCapture(1 << 20), echo: null };
      return f;
    });
    const db = await storeWith('export', flows);
    const file = path.join(dir, 'export.jsonl');
    const toFile = await airlock(['flows', 'export', '--db', db, '--out', file]);
    expect(toFile.code, toFile.stderr).toBe(0);
    const size = fs.statSync(file).size;
    expect(size).toBeGreaterThan(1_000_000); // far past a pipe's 64 KiB
    // A reader slower than airlock: the last writes are still queued when the command is done.
    const piped = await run('sh', ['-c', `"${process.execPath}" "${BIN}" flows export --db "${db}" | (sleep 1; wc -c)`]);
    expect(Number(piped.stdout.trim())).toBe(size);
    // Piped, stderr carries the summary and no progress line.
    expect(piped.stderr).toBe('exported 1000 flows\n');
    const har = await run('sh', ['-c', `"${process.execPath}" "${BIN}" flows export --format har --db "${db}" | (sleep 1; wc -c)`]);
    const harFile = path.join(dir, 'export.har');
    await airlock(['flows', 'export', '--format', 'har', '--db', db, '--out', harFile]);
    expect(Number(har.stdout.trim())).toBe(fs.statSync(harFile).size);
  });

  it('on a terminal, export shows its progress on stderr (and piped it does not, above)', async () => {
    const db = await storeWith('tty', Array.from({ length: 600 }, (_, i) => flow({ method: 'GET', host: 'api.test', path: `/v1/${i}`, decision: 'allow' })));
    const out = path.join(dir, 'tty.jsonl');
    // script(1) runs the command on a pseudo-terminal: stderr is a TTY there.
    const r = await run('script', ['-q', '-e', '-c', `"${process.execPath}" "${BIN}" flows export --db "${db}" --out "${out}"`, '/dev/null']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/exporting to .*tty\.jsonl: \d+ of 600 flows/);
    expect(r.stdout).toContain('exported 600 flows');
  });

  it('flows show of a flow with a 600 KB body, piped, is complete (the command waits for stdout to drain before exiting)', async () => {
    const f = flow({ method: 'POST', host: 'api.test', path: '/v1/big', decision: 'allow', status: 200 });
    const request = new BodyCapture(1 << 20);
    request.add(Buffer.from('y'.repeat(600_000)));
    f.requestHeaders = { 'content-type': 'text/plain' };
    f.bodies = { request, response: new BodyCapture(1 << 20), echo: null };
    const db = await storeWith('show', [f]);
    const file = path.join(dir, 'show.txt');
    await run('sh', ['-c', `"${process.execPath}" "${BIN}" flows show 1 --db "${db}" > "${file}"`]);
    expect(fs.statSync(file).size).toBeGreaterThan(600_000);
    const piped = await run('sh', ['-c', `"${process.execPath}" "${BIN}" flows show 1 --db "${db}" | (sleep 1; wc -c)`]);
    expect(Number(piped.stdout.trim())).toBe(fs.statSync(file).size);
  });
});

describe('airlock policy replay', () => {
  let db: string;
  let current: string;

  beforeAll(async () => {
    db = await storeWith('replay', [
      ...Array.from({ length: 5 }, () => flow({ method: 'GET', host: 'api.test', path: '/v1/a', decision: 'allow', status: 200, ruleId: 'api' })),
      ...Array.from({ length: 3 }, () => flow({ method: 'POST', host: 'api.test', path: '/v1/b', decision: 'allow', status: 200, ruleId: 'api' })),
      ...Array.from({ length: 2 }, () => flow({ method: 'GET', host: 'new.test', path: '/x', decision: 'deny', status: 403, code: 'host_not_allowed' })),
      flow({ method: 'GET', host: 'api.test', path: '/v2/c', decision: 'would_deny', status: 200, code: 'path_not_allowed', ruleId: 'api' }),
      flow({ method: 'CONNECT', host: 'evil.test', path: undefined, decision: 'deny', status: 403, code: 'host_not_allowed', protocol: 'tcp' }),
      flow({ host: undefined, method: undefined, decision: 'refuse', status: 400, code: 'bad_request', protocol: 'tcp' }),
    ]);
    current = writePolicy('current', 'hosts:\n  - { name: api, match: api.test, paths: [/v1/] }\n');
  });

  it('the policy in force replays to no change: exit 0', async () => {
    const r = await airlock(['policy', 'replay', current, '--db', db]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/13 flows replayed: 0 newly denied, 0 newly allowed, 12 unchanged \(8 allowed, 4 denied\), 1 not decided by the policy/);
  });

  it('a tightened policy lists what it newly denies, by code and rule with examples; exit 1 (0 with --fail-on allowed)', async () => {
    const tight = writePolicy('tight', 'hosts:\n  - { name: api, match: api.test, methods: [GET], paths: [/v1/] }\n');
    const r = await airlock(['policy', 'replay', tight, '--db', db]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/: 3 newly denied, 0 newly allowed/);
    expect(r.stdout).toMatch(/newly denied:\n {2}method_not_allowed \(rule api\): 3 flows\n {4}flow \d+ {2}POST https:\/\/api\.test\/v1\/b\n/);
    expect((await airlock(['policy', 'replay', tight, '--db', db, '--fail-on', 'allowed'])).code).toBe(0);
    const json = JSON.parse((await airlock(['policy', 'replay', tight, '--db', db, '--format', 'json'])).stdout);
    expect(json).toMatchObject({ newlyDenied: 3, newlyAllowed: 0, groups: [{ change: 'newly_denied', code: 'method_not_allowed', rule: 'api', count: 3 }] });
  });

  it('a loosened policy lists what it newly allows, by the rule that allows it; exit 1 (0 with --fail-on denied)', async () => {
    const loose = writePolicy('loose', 'hosts:\n  - { name: api, match: api.test, paths: [/v1/, /v2/] }\n  - { name: new, match: new.test }\n');
    const r = await airlock(['policy', 'replay', loose, '--db', db]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/: 0 newly denied, 3 newly allowed/);
    expect(r.stdout).toMatch(/newly allowed:\n {2}by rule new: 2 flows\n {4}flow \d+ {2}GET https:\/\/new\.test\/x\n {4}flow \d+ {2}GET https:\/\/new\.test\/x\n {2}by rule api: 1 flow\n {4}flow \d+ {2}GET https:\/\/api\.test\/v2\/c/);
    expect((await airlock(['policy', 'replay', loose, '--db', db, '--fail-on', 'denied'])).code).toBe(0);
  });

  it('a deny rule counts too (DLP actions: the next describe); a broken candidate is exit 1 with its problems; bad usage exit 2', async () => {
    const deny = writePolicy('deny', 'hosts:\n  - { name: api, match: api.test, paths: [/v1/] }\ndeny:\n  - { name: no-b, match: api.test, paths: [/v1/b] }\n');
    const r = await airlock(['policy', 'replay', deny, '--db', db]);
    expect(r.stdout).toMatch(/request_denied_by_rule \(rule no-b\): 3 flows/);
    const broken = writePolicy('broken', 'hosts:\n  - { match: "*" }\n');
    const b = await airlock(['policy', 'replay', broken, '--db', db]);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/hosts\[0\]\.match: "\*" would allow every host/);
    expect((await airlock(['policy', 'replay', '--db', db])).code).toBe(2);
    expect((await airlock(['policy', 'replay', current, '--db', db, '--fail-on', 'sometimes'])).code).toBe(2);
  });
});

describe('progress of flows verify, policy replay and policy suggest', () => {
  let db: string;
  let cand: string;
  const commands = (): [string, string[], RegExp][] => [
    ['flows verify', ['flows', 'verify', '--db', db], /verifying: 1,000 of 2,500 flows \(40%\)/],
    ['policy replay', ['policy', 'replay', cand, '--db', db, '--fail-on', 'none'], /replaying: 1,000 of 2,500 flows \(40%\)/],
    ['policy suggest', ['policy', 'suggest', '--db', db], /reading flows: 1,000 of 2,500 flows \(40%\)/],
  ];

  beforeAll(async () => {
    db = await storeWith('progress', Array.from({ length: 2500 }, (_, i) => flow({ method: 'GET', host: `h${i % 7}.test`, path: `/p/${i}`, decision: 'deny', code: 'host_not_allowed' })));
    cand = writePolicy('progress-cand', 'hosts:\n  - { name: h1, match: h1.test }\n');
  });

  it('on a terminal each shows its progress on stderr (stdout, redirected to a file, has none of it)', async () => {
    for (const [name, args, line] of commands()) {
      const file = path.join(dir, `progress-${name.replace(' ', '-')}.out`);
      // script(1): stderr is a pseudo-terminal; stdout goes to a file.
      const cmd = `"${process.execPath}" "${BIN}" ${args.map((a) => `"${a}"`).join(' ')} > "${file}"`;
      const r = await run('script', ['-q', '-e', '-c', cmd, '/dev/null']);
      expect(r.code, `${name}: ${r.stdout}`).toBe(0);
      expect(r.stdout, name).toMatch(line);
      expect(r.stdout, name).toContain('\x1b[2K'); // the line is cleared at the end
      expect(fs.readFileSync(file, 'utf8'), name).not.toMatch(/\r|\x1b|of 2,500 flows/);
    }
  });

  it('piped, none of them prints anything beyond its output and summary', async () => {
    for (const [name, args] of commands()) {
      const r = await airlock(args);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      expect(r.stdout + r.stderr, name).not.toMatch(/\r|\x1b|of 2,500 flows/);
      expect(r.stderr, name).toBe(name === 'policy suggest' ? '7 rules suggested from 2500 flows\n' : '');
    }
  });
});

describe('--since leaves older flows out of replay and suggest', () => {
  const DAY = 24 * 3600_000;
  let db: string;

  beforeAll(async () => {
    const old = Date.now() - 3 * DAY;
    db = await storeWith('since', [
      ...Array.from({ length: 4 }, () => flow({ method: 'GET', host: 'old.test', path: '/o', decision: 'deny', code: 'host_not_allowed', startedAt: old })),
      flow({ method: 'DELETE', host: 'api.test', path: '/v1/x', decision: 'allow', ruleId: 'api', startedAt: old }),
      ...Array.from({ length: 2 }, () => flow({ method: 'GET', host: 'recent.test', path: '/r', decision: 'deny', code: 'host_not_allowed' })),
      flow({ method: 'GET', host: 'api.test', path: '/v1/y', decision: 'allow', ruleId: 'api' }),
    ]);
  });

  it('replay --since 24h decides only the flows of the last day (ISO times too)', async () => {
    const cand = writePolicy('since-cand', 'hosts:\n  - { name: api, match: api.test, methods: [GET], paths: [/v1/] }\n  - { name: old, match: old.test }\n  - { name: recent, match: recent.test }\n');
    const all = await airlock(['policy', 'replay', cand, '--db', db]);
    expect(all.stdout).toMatch(/8 flows replayed: 1 newly denied, 6 newly allowed, 1 unchanged/);
    const r = await airlock(['policy', 'replay', cand, '--db', db, '--since', '24h']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/3 flows replayed: 0 newly denied, 2 newly allowed, 1 unchanged \(1 allowed, 0 denied\)/);
    expect(r.stdout).not.toMatch(/old\.test|DELETE/);
    const iso = await airlock(['policy', 'replay', cand, '--db', db, '--since', new Date(Date.now() - DAY).toISOString()]);
    expect(iso.stdout).toMatch(/3 flows replayed: 0 newly denied, 2 newly allowed/);
  });

  it('suggest --since 24h suggests only from the flows of the last day', async () => {
    const all = await airlock(['policy', 'suggest', '--db', db]);
    expect(all.stdout).toMatch(/match: "old\.test"/);
    const r = await airlock(['policy', 'suggest', '--db', db, '--since', '24h']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/airlock policy suggest: \d+ of 3 flows/);
    expect(r.stdout).toMatch(/match: "recent\.test"/);
    expect(r.stdout).not.toMatch(/old\.test|DELETE/);
  });
});

describe('airlock policy replay on DLP findings recorded by a real airlock', () => {
  const AWS = 'AKIAQYLPMN5HHHFPZAM2'; // the built-in pack's aws-access-key-id
  let db: string;
  const hosts = 'hosts:\n  - { name: api, match: api.test, paths: [/v1/, /reverse] }\n';

  beforeAll(async () => {
    const work = tempDir();
    const { ip, pki, up } = await startTlsUpstream(work, ['api.test']);
    // The key is logged on /v1/logged and blocked (an exception) on /v1/strict; responses are
    // scanned too, and /reverse answers with the key (sent reversed, so the request has no finding).
    const a = await startTestAirlock(
      `listen: { proxy: 127.0.0.1:0 }
upstream:
  ca_files: [${pki.caCert}]
  resolve: { api.test: ${ip} }
hosts:
  - { name: api, match: api.test, allow_ips: [${ip}], paths: [/v1/, /reverse] }
dlp:
  responses: true
  actions: { aws-access-key-id: log }
  exceptions:
    - { hosts: [api.test], paths: [/v1/strict], rules: [aws-access-key-id], action: block }
`,
      {},
      work,
    );
    try {
      const curl = (p: string, body: string) =>
        run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--proxy', a.proxyUrl, '--cacert', a.caCertPath, '--data-binary', body, `https://api.test${p}`]);
      expect((await curl('/v1/logged', `{"note":"${AWS}"}`)).stdout).toBe('200');
      expect((await curl('/v1/strict', `{"note":"${AWS}"}`)).stdout).toBe('403');
      expect((await curl('/v1/clean', '{"note":"nothing here"}')).stdout).toBe('200');
      expect((await curl('/reverse', [...AWS].reverse().join(''))).stdout).toBe('200');
      db = a.config.store.path;
    } finally {
      await a.close();
      await up.close();
    }
  });

  it('a candidate that turns the logged rule to block newly denies the flow with that finding, by the rule; exit per --fail-on', async () => {
    const block = writePolicy('dlp-block', `${hosts}dlp:\n  actions: { aws-access-key-id: block }\n`);
    const r = await airlock(['policy', 'replay', block, '--db', db]);
    expect(r.code, r.stderr).toBe(1);
    // The finding in /reverse's response does not count: the candidate does not scan responses.
    expect(r.stdout).toMatch(/4 flows replayed: 1 newly denied, 0 newly allowed, 3 unchanged \(2 allowed, 1 denied\)/);
    expect(r.stdout).toMatch(/newly denied:\n {2}dlp_blocked \(rule aws-access-key-id\): 1 flow\n {4}flow \d+ {2}POST https:\/\/api\.test\/v1\/logged\n/);
    expect((await airlock(['policy', 'replay', block, '--db', db, '--fail-on', 'allowed'])).code).toBe(0);
    expect((await airlock(['policy', 'replay', block, '--db', db, '--fail-on', 'denied'])).code).toBe(1);
    // DLP in report mode blocks nothing: the logged flow stays allowed, the blocked one is newly allowed.
    const report = writePolicy('dlp-report', `${hosts}dlp:\n  mode: report\n  actions: { aws-access-key-id: block }\n`);
    expect((await airlock(['policy', 'replay', report, '--db', db, '--format', 'json'])).stdout).toMatch(/"newlyDenied": 0,\n {2}"newlyAllowed": 1/);
  });

  it('a finding in a response body counts only when the candidate scans responses', async () => {
    const responses = writePolicy('dlp-responses', `${hosts}dlp:\n  responses: true\n  actions: { aws-access-key-id: block }\n`);
    const r = await airlock(['policy', 'replay', responses, '--db', db]);
    expect(r.stdout).toMatch(/4 flows replayed: 2 newly denied, 0 newly allowed, 2 unchanged \(1 allowed, 1 denied\)/);
    expect(r.stdout).toMatch(/newly denied:\n {2}dlp_blocked \(rule aws-access-key-id\): 2 flows\n {4}flow \d+ {2}POST https:\/\/api\.test\/v1\/logged\n {4}flow \d+ {2}POST https:\/\/api\.test\/reverse\n/);
  });

  it('findings in text airlock stores about a flow (reason, error, agent user) do not count: no DLP action stops a flow for them', async () => {
    const at = (location: string): Finding => ({ ruleId: 'aws-access-key-id', severity: 'high', action: 'log', location, offset: 0, length: 20, via: '', preview: 'AKIA…(20)' });
    const stored = await storeWith('dlp-text', [
      flow({ method: 'GET', host: 'api.test', path: '/v1/t', decision: 'allow', ruleId: 'api', findings: [at('reason'), at('error'), at('agent user')] }),
      flow({ method: 'GET', host: 'api.test', path: '/v1/q', decision: 'allow', ruleId: 'api', findings: [at('query')] }),
    ]);
    const block = writePolicy('dlp-text-block', `${hosts}dlp:\n  responses: true\n  actions: { aws-access-key-id: block }\n`);
    const r = await airlock(['policy', 'replay', block, '--db', stored]);
    expect(r.stdout).toMatch(/2 flows replayed: 1 newly denied, 0 newly allowed, 1 unchanged \(1 allowed, 0 denied\)/);
    expect(r.stdout).toMatch(/dlp_blocked \(rule aws-access-key-id\): 1 flow\n {4}flow \d+ {2}GET https:\/\/api\.test\/v1\/q\n/);
  });

  it('and the reverse: a candidate that logs the rule everywhere newly allows the DLP-blocked flow', async () => {
    const log = writePolicy('dlp-log', `${hosts}dlp:\n  actions: { aws-access-key-id: log }\n`);
    const r = await airlock(['policy', 'replay', log, '--db', db]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/4 flows replayed: 0 newly denied, 1 newly allowed, 3 unchanged \(3 allowed, 0 denied\)/);
    expect(r.stdout).toMatch(/newly allowed:\n {2}by rule api: 1 flow\n {4}flow \d+ {2}POST https:\/\/api\.test\/v1\/strict\n/);
    expect((await airlock(['policy', 'replay', log, '--db', db, '--fail-on', 'denied'])).code).toBe(0);
    // The recorded DLP settings (log, block by exception on /v1/strict) replay to no change.
    const same = writePolicy('dlp-same', `${hosts}dlp:\n  responses: true\n  actions: { aws-access-key-id: log }\n  exceptions:\n    - { hosts: [api.test], paths: [/v1/strict], rules: [aws-access-key-id], action: block }\n`);
    const s = await airlock(['policy', 'replay', same, '--db', db]);
    expect(s.code, s.stdout).toBe(0);
    expect(s.stdout).toMatch(/4 flows replayed: 0 newly denied, 0 newly allowed, 4 unchanged \(3 allowed, 1 denied\)/);
  });
});

describe('airlock policy suggest', () => {
  it('collapses many subdomains into a wildcard, keeps ports and methods, leaves out what the policy allows, scopes to --agent', async () => {
    const db = await storeWith('suggest', [
      ...['a', 'b', 'c'].map((s) => flow({ method: 'GET', host: `${s}.cdn.test`, path: '/assets/x.js', decision: 'would_deny', code: 'host_not_allowed', agentUser: 'alice' })),
      flow({ method: 'PUT', host: 'api.test', port: 8443, path: '/v1/items/1', decision: 'would_deny', code: 'host_not_allowed', agentUser: 'alice' }),
      flow({ method: 'GET', host: 'api.test', port: 8443, path: '/health', decision: 'would_deny', code: 'host_not_allowed', agentUser: 'alice' }),
      flow({ method: 'GET', host: 'known.test', path: '/x', decision: 'allow', ruleId: 'known', agentUser: 'alice' }),
      flow({ method: 'GET', host: 'bob.test', path: '/x', decision: 'deny', code: 'host_not_allowed', agentUser: 'bob' }),
      flow({ method: 'POST', host: 'leak.test', path: '/x', decision: 'deny', code: 'dlp_blocked', agentUser: 'alice' }),
    ]);
    const known = writePolicy('known', `data_dir: ${path.dirname(db)}\nhosts:\n  - { name: known, match: known.test }\n`);
    const r = await airlock(['policy', 'suggest', '--config', known, '--agent', 'alice']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('  - name: "any.cdn.test"\n    match: "*.cdn.test"\n    agents: ["alice"]\n    methods: [GET]\n    paths: ["/assets/"]\n    websocket: false\n');
    expect(r.stdout).toContain('  # 3 subdomains: a.cdn.test, b.cdn.test, c.cdn.test\n');
    expect(r.stdout).toMatch(/ {2}- name: "api\.test"\n {4}match: "api\.test"\n {4}agents: \["alice"\]\n {4}ports: \[8443\]\n {4}methods: \[GET, PUT\]\n {4}paths: \["\/health", "\/v1\/"\]/);
    expect(r.stdout).not.toMatch(/known\.test|bob\.test|leak\.test/);
    // The fragment is a valid policy once listen is added, and replaying it allows what suggest read.
    const fragment = writePolicy('fragment', r.stdout);
    const replay = await airlock(['policy', 'replay', fragment, '--db', db, '--agent', 'alice', '--fail-on', 'none', '--format', 'json']);
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ newlyAllowed: 5 });
  });
});
