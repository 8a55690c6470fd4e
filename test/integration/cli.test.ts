// The airlock command as a user runs it: a separate process, real files, real signals.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/airlock.ts';
import { run } from '../helpers/run.ts';
import { BIN, children, startCli } from '../helpers/cli.ts';

const airlockCli = (args: string[], cwd?: string) => run(process.execPath, [BIN, ...args], { cwd });
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

describe('airlock check-config', () => {
  it('lists every problem with its path and exits non-zero', async () => {
    const r = await airlockCli(['check-config', 'test/fixtures/policies/broken-many.yaml']);
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('  '));
    expect(lines.length).toBeGreaterThan(10);
    expect(r.stderr).toContain('hosts[2].match: "*" would allow every host');
    for (const l of lines) expect(l).toMatch(/^ {2}[a-z_]+[^:]*: \S/);
  });

  it('accepts a valid file', async () => {
    const r = await airlockCli(['check-config', 'test/fixtures/policies/deny-all.yaml']);
    expect(r.stdout.trim()).toBe('ok');
    expect(r.code).toBe(0);
  });

  it('names the line of a YAML syntax error', async () => {
    const r = await airlockCli(['check-config', 'test/fixtures/policies/syntax-error.yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/syntax-error\.yaml:\d+:\d+: /);
  });
});

describe('airlock start on embedded defaults', () => {
  it('writes the example policy, creates the CA with a 0600 key, and prints the banner', async () => {
    const cwd = tempDir();
    // The default listen port 8080 may be taken on a shared machine: use the written policy
    // with the port swapped, exactly as a user would edit it.
    fs.mkdirSync(path.join(cwd, '.airlock'));
    const policy = fs
      .readFileSync('policies/default-policy.yaml', 'utf8')
      .replace('proxy: 127.0.0.1:8080', 'proxy: 127.0.0.1:0')
      .replace('ui: 127.0.0.1:8090', 'ui: 127.0.0.1:0');
    fs.writeFileSync(path.join(cwd, '.airlock', 'policy.yaml'), policy);
    const { proc, banner } = await startCli([], cwd);
    expect(banner).toContain('explicit proxy  127.0.0.1:');
    expect(banner).toContain('CA certificate  .airlock/ca/ca.crt');
    expect(banner).toMatch(/Every host is denied until the policy allows it/);
    expect(banner).toMatch(/web UI +http:\/\/127\.0\.0\.1:\d+\/ +\(log in with admin token [A-Za-z0-9_-]{43}; shown only now/);
    expect(fs.statSync(path.join(cwd, '.airlock', 'ca', 'ca.key')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(cwd, '.airlock', 'ca')).mode & 0o777).toBe(0o700);
    for (const f of ['flows.sqlite', 'flows.sqlite-wal']) expect(fs.statSync(path.join(cwd, '.airlock', f)).mode & 0o777, f).toBe(0o600);
    const exited = new Promise((r) => proc.on('exit', (code, signal) => r(code ?? signal)));
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('writes the commented example policy on first run, with the store capped at half the free space', async () => {
    const cwd = tempDir();
    const { proc } = await startCli([], cwd).catch((e: Error) => {
      // 8080 busy on this machine: the policy must still have been written before binding.
      expect(e.message).toMatch(/EADDRINUSE/);
      return { proc: undefined };
    });
    proc?.kill('SIGTERM');
    const written = fs.readFileSync(path.join(cwd, '.airlock', 'policy.yaml'), 'utf8');
    const example = fs.readFileSync('policies/default-policy.yaml', 'utf8');
    // Only the max_bytes line differs (test/unit/policy-store.test.ts checks its value).
    const changed = written.split('\n').filter((l, i) => l !== example.split('\n')[i]);
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatch(/^ {4}max_bytes: \d+(GiB|MiB) {3}# 50% of the \d+(GiB|MiB) free at first start \(\d{4}-\d\d-\d\d\)$/);
  });
});

describe('airlock ca', () => {
  it('init, show and export in PEM and DER', async () => {
    const dir = tempDir();
    const init = await airlockCli(['ca', 'init', '--data-dir', dir]);
    expect(init.code, init.stderr).toBe(0);
    const show = await airlockCli(['ca', 'show', '--data-dir', dir]);
    expect(show.stdout).toMatch(/^-----BEGIN CERTIFICATE-----/);
    const der = path.join(dir, 'ca.der');
    expect((await airlockCli(['ca', 'export', '--format', 'der', '--out', der, '--data-dir', dir])).code).toBe(0);
    const text = await run('openssl', ['x509', '-inform', 'der', '-in', der, '-noout', '-text']);
    expect(text.stdout).toContain('CA:TRUE');
    expect(text.stdout).toContain('prime256v1');
  });

  it('import adopts an existing RSA CA', async () => {
    const dir = tempDir();
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir}/k.pem`, '-out', `${dir}/c.pem`, '-days', '3',
      '-subj', '/CN=Org CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    const r = await airlockCli(['ca', 'import', '--cert', `${dir}/c.pem`, '--key', `${dir}/k.pem`, '--data-dir', `${dir}/data`]);
    expect(r.code, r.stderr).toBe(0);
    const show = await airlockCli(['ca', 'show', '--data-dir', `${dir}/data`]);
    expect(show.stdout.trim()).toBe(fs.readFileSync(`${dir}/c.pem`, 'utf8').trim());
  });

  it('a CA dir airlock may not read is named with the uid it runs as (not mkdir\'s EEXIST, not "run airlock ca init")', async () => {
    const dir = tempDir();
    fs.chmodSync(dir, 0o755);
    const data = path.join(dir, 'data');
    expect((await airlockCli(['ca', 'init', '--data-dir', data])).code).toBe(0);
    fs.chmodSync(data, 0o777); // the user could create a "ca" there: only the existing one is unreadable
    const ca = path.join(data, 'ca');
    // Tests run as root, who reads any directory: the command runs as nobody (setpriv) on the CA
    // dir root owns with mode 0700. As another user, a mode of 0 does the same.
    const root = process.getuid!() === 0;
    fs.chmodSync(ca, root ? 0o700 : 0);
    await airlockCli(['--version']); // the bin's bundle is current, so the other user need not rebuild it
    const uid = root ? 65534 : process.getuid!();
    const asUser = (args: string[]) =>
      root
        ? run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, ...args], { env: { HOME: dir } })
        : airlockCli(args);
    const why = `cannot read the CA at ${path.join(ca, 'ca.crt')}: permission denied (airlock runs as uid ${uid}; give it access to the data dir, or run it as the directory's owner)`;
    try {
      for (const c of ['init', 'show']) {
        const r = await asUser(['ca', c, '--data-dir', data]);
        expect(r.code, c).toBe(1);
        expect(r.stderr, c).toBe(`airlock ca: ${why}\n`);
      }
    } finally {
      fs.chmodSync(ca, 0o700);
    }
    expect(fs.readdirSync(ca).sort()).toEqual(['ca.crt', 'ca.key']); // nothing new written
    // And show on a data dir without a CA says what to do, not ENOENT.
    const none = await airlockCli(['ca', 'show', '--data-dir', path.join(dir, 'empty')]);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(`airlock ca: no CA in ${path.join(dir, 'empty', 'ca')}: run \`airlock ca init\` (airlock start also creates one)\n`);
  });

  it('--help on each command', async () => {
    for (const c of ['start', 'check-config', 'ca']) {
      const r = await airlockCli([c, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`usage: airlock ${c}`);
    }
  });
});

describe('the CLI as an operator meets it', () => {
  it('--version, did-you-mean for commands, subcommands and flags, usage on stderr with exit 2', async () => {
    const v = await airlockCli(['--version']);
    expect(v.stdout).toBe(`airlock ${JSON.parse(fs.readFileSync('package.json', 'utf8')).version}\n`);
    const cmd = await airlockCli(['strat']);
    expect(cmd.code).toBe(2);
    expect(cmd.stdout).toBe('');
    expect(cmd.stderr).toMatch(/^airlock: unknown command "strat" \(did you mean "start"\?\)/);
    const sub = await airlockCli(['flows', 'lsit']);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toMatch(/unknown subcommand "lsit" \(did you mean "list"\?\)/);
    const flag = await airlockCli(['flows', 'list', '--hots', 'x']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/^airlock flows: unknown option --hots \(did you mean --host\?\)\n\nusage: airlock flows/);
    expect(flag.stderr).not.toMatch(/as in '--/);
    const missing = await airlockCli(['start', '--config']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/option --config needs a value/);
    const ca = await airlockCli(['ca', 'int']);
    expect(ca.stderr).toMatch(/unknown subcommand "int" \(did you mean "init"\?\)/);
    // airlock sessions (issue 17) the same way.
    const sessions = await airlockCli(['sesions']);
    expect(sessions.code).toBe(2);
    expect(sessions.stderr).toMatch(/^airlock: unknown command "sesions" \(did you mean "sessions"\?\)/);
    const sessionsSub = await airlockCli(['sessions', 'lsit']);
    expect(sessionsSub.code).toBe(2);
    expect(sessionsSub.stderr).toMatch(/^airlock sessions: unknown subcommand "lsit" \(did you mean "list"\?\)/);
    const sessionsFlag = await airlockCli(['sessions', 'list', '--agnet', 'x']);
    expect(sessionsFlag.code).toBe(2);
    expect(sessionsFlag.stderr).toMatch(/^airlock sessions: unknown option --agnet \(did you mean --agent\?\)\n\nusage: airlock sessions/);
  });

  it('the same policy started from another directory finds the same data dir (CA, store, token); the banner names the policy', async () => {
    const home = tempDir();
    const policyDir = path.join(home, 'conf');
    fs.mkdirSync(policyDir);
    const file = path.join(policyDir, 'policy.yaml');
    fs.writeFileSync(file, 'listen:\n  proxy: 127.0.0.1:0\n  ui: 127.0.0.1:0\nhosts: []\n');
    const first = await startCli(['--config', file], home);
    expect(first.banner).toMatch(/^airlock is running with the policy conf\/policy\.yaml/);
    expect(first.banner).toMatch(/policy {10}conf\/policy\.yaml {3}\(relative paths in it resolve against .*\/conf\/\)/);
    expect(first.banner).toMatch(/admin token [A-Za-z0-9_-]{43}/);
    first.proc.kill('SIGTERM');
    await new Promise((r) => first.proc.on('exit', r));
    const crt = fs.readFileSync(path.join(policyDir, 'ca', 'ca.crt'), 'utf8');
    const elsewhere = tempDir();
    const second = await startCli(['--config', file], elsewhere);
    expect(second.banner).not.toMatch(/admin token [A-Za-z0-9_-]{43}/);
    expect(fs.readFileSync(path.join(policyDir, 'ca', 'ca.crt'), 'utf8')).toBe(crt);
    expect(fs.existsSync(path.join(elsewhere, '.airlock'))).toBe(false);
    second.proc.kill('SIGTERM');
    await new Promise((r) => second.proc.on('exit', r));
  });

  it('a first start that cannot bind the UI keeps no token, so the next start prints one', async () => {
    const dir = tempDir();
    const blocker = (await import('node:net')).createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const file = path.join(dir, 'policy.yaml');
    fs.writeFileSync(file, `listen:\n  proxy: 127.0.0.1:0\n  ui: 127.0.0.1:${port}\nhosts: []\n`);
    await expect(startCli(['--config', file], dir)).rejects.toThrow(/EADDRINUSE/);
    expect(fs.existsSync(path.join(dir, 'ui-token.sha256'))).toBe(false);
    await new Promise((r) => blocker.close(r));
    const { proc, banner } = await startCli(['--config', file], dir);
    expect(banner).toMatch(/admin token [A-Za-z0-9_-]{43}; shown only now/);
    proc.kill('SIGTERM');
  });

  it('a reload with problems is reported on stderr, naming the file; a secret added as env: says a restart is needed', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'policy.yaml');
    fs.writeFileSync(file, 'listen:\n  proxy: 127.0.0.1:0\nhosts: []\n');
    const { proc } = await startCli(['--config', file], dir);
    let stderr = '';
    let stdout = '';
    proc.stderr!.on('data', (c) => (stderr += c));
    proc.stdout!.on('data', (c) => (stdout += c));
    fs.writeFileSync(file, 'listen:\n  proxy: 127.0.0.1:0\nhosts:\n  - match: api.test\n    inject: { headers: { x-api-key: env:AIRLOCK_TEST_UNSET_KEY } }\n');
    proc.kill('SIGHUP');
    await expect.poll(() => stderr, { timeout: 30_000 }).toMatch(/policy reload failed/);
    expect(stderr).toContain('policy.yaml: 1 problem(s):');
    expect(stderr).toMatch(/hosts\[0\]\.inject\.headers\.x-api-key: environment variable AIRLOCK_TEST_UNSET_KEY is not set in airlock's environment \(read once, at start: set it there and restart airlock/);
    expect(stdout).not.toContain('AIRLOCK_TEST_UNSET_KEY');
    fs.writeFileSync(file, 'listen:\n  proxy: 127.0.0.1:0\nlimits: { max_headers: 50 }\nhosts: []\n');
    proc.kill('SIGHUP');
    await expect.poll(() => stderr, { timeout: 30_000 }).toMatch(/policy reloaded, but changes to limits apply only after a restart/);
    proc.kill('SIGTERM');
  });
});
