// Secret sources at run time: a file: secret follows its file (rename, in-place write, a
// Kubernetes-style symlink swap, removal), an exec: secret runs once per cache lifetime, is
// fetched again ahead of expiry, and fails with how the command ended, never with its output.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExecSource } from '../../policies/secret-exec.ts';
import { FileSource, type Got, type Secret } from '../../policies/secrets.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-sources-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const text = (g: Got<Secret>) => (g.ok ? g.value.reveal() : `problem: ${g.problem}`);

/** The source's value once it shows `want` (a change event arrives within moments; 3 s at most). */
async function settles(source: FileSource, want: string): Promise<string> {
  const until = Date.now() + 3000;
  let now = text(source.current());
  while (now !== want && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 10));
    now = text(source.current());
  }
  return now;
}

describe('file: secrets follow their file', () => {
  it('a rename, an in-place write, a removal and a return', async () => {
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, 'one\n');
    const source = new FileSource('file:token', file);
    expect(text(source.current())).toBe('one');
    fs.writeFileSync(`${file}.tmp`, 'two\n');
    fs.renameSync(`${file}.tmp`, file);
    expect(await settles(source, 'two')).toBe('two');
    fs.writeFileSync(file, 'three, longer\n');
    expect(await settles(source, 'three, longer')).toBe('three, longer');
    fs.rmSync(file);
    const gone = `problem: ${file} (file:token) no longer exists`;
    expect(await settles(source, gone)).toBe(gone);
    fs.writeFileSync(file, '');
    expect(await settles(source, `problem: ${file} is empty`)).toBe(`problem: ${file} is empty`);
    fs.writeFileSync(file, 'four\n');
    expect(await settles(source, 'four')).toBe('four');
  });

  it('a Kubernetes secret volume: the ..data symlink swapped to a new directory', async () => {
    const mount = path.join(dir, 'mount');
    fs.mkdirSync(path.join(mount, '..2026_01'), { recursive: true });
    fs.writeFileSync(path.join(mount, '..2026_01', 'token'), 'first-key');
    fs.symlinkSync('..2026_01', path.join(mount, '..data'));
    fs.symlinkSync('..data/token', path.join(mount, 'token'));
    const source = new FileSource('file:mount/token', path.join(mount, 'token'));
    expect(text(source.current())).toBe('first-key');
    fs.mkdirSync(path.join(mount, '..2026_02'));
    fs.writeFileSync(path.join(mount, '..2026_02', 'token'), 'second-key');
    fs.symlinkSync('..2026_02', path.join(mount, '..data_tmp'));
    fs.renameSync(path.join(mount, '..data_tmp'), path.join(mount, '..data'));
    fs.rmSync(path.join(mount, '..2026_01'), { recursive: true });
    expect(await settles(source, 'second-key')).toBe('second-key');
  });
});

describe('exec: secrets', () => {
  const script = (name: string, body: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return file;
  };
  const runs = path.join(dir, 'runs');

  it('runs once per cache lifetime, and again in the background in its last quarter', async () => {
    fs.writeFileSync(runs, '');
    const cmd = script('counter.sh', `echo x >> ${runs}; echo "token-$(wc -l < ${runs} | tr -d ' ')"`);
    let clock = 1_000_000;
    const source = new ExecSource('exec:counter.sh', { argv: [cmd], cwd: dir, timeoutMs: 5000, cacheMs: 60_000, now: () => clock });
    const first = source.current();
    expect(first).toBeInstanceOf(Promise); // the first use waits for the command
    expect(text(await first)).toBe('token-1');
    clock += 30_000;
    expect(text(source.current() as Got<Secret>)).toBe('token-1'); // cached, no run
    clock += 20_000; // 50 s of 60: the value is still served, a new one is fetched meanwhile
    expect(text(source.current() as Got<Secret>)).toBe('token-1');
    // The background run finishes: from then on its value is served (the clock has not moved).
    const until = Date.now() + 5000;
    let now = text(source.current() as Got<Secret>);
    while (now === 'token-1' && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 10));
      now = text(source.current() as Got<Secret>);
    }
    expect(now).toBe('token-2');
    expect(fs.readFileSync(runs, 'utf8')).toBe('x\nx\n'); // one background run, however often it was asked
    clock += 61_000; // expired: the next use waits again
    expect(text(await source.current())).toBe('token-3');
  });

  it('fails with how the command ended, never with what it printed', async () => {
    const cases: [string, string, number, string][] = [
      ['exits non-zero', 'echo sk-live-SECRET-ON-STDOUT; echo oops-SECRET-ON-STDERR >&2; exit 3', 5000, 'exited with code 3 (its output is not shown)'],
      ['prints nothing', 'true', 5000, 'printed nothing'],
      ['hangs', 'exec sleep 5', 200, 'did not finish within 0.2s (its output is not shown)'],
    ];
    for (const [name, body, timeoutMs, problem] of cases) {
      const source = new ExecSource(`exec:${name}`, { argv: [script(`${name.replace(/ /g, '-')}.sh`, body)], cwd: dir, timeoutMs, cacheMs: 60_000 });
      const got = await source.current();
      expect(got, name).toEqual({ ok: false, problem: `exec:${name} ${problem}` });
    }
  });
});
