// Bodies stream with backpressure: 256 MiB up and 256 MiB down through airlock keep its
// resident memory flat. Measured on airlock's own processes (VmHWM), not timed: one process, and
// with two workers the supervisor and each worker.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/airlock.ts';
import { children, startCli } from '../helpers/cli.ts';
import { run } from '../helpers/run.ts';
import { type TestUpstream, startTlsUpstream } from '../helpers/upstream.ts';

const SIZE = 256 * 1024 * 1024;
const RSS_LIMIT_MB = 150;
let up: TestUpstream;
let dir: string;
let ip: string;
let caCert: string;

beforeAll(async () => {
  dir = tempDir();
  const started = await startTlsUpstream(dir, ['big.test']);
  up = started.up;
  ip = started.ip;
  caCert = started.pki.caCert;
});

afterAll(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await up?.close();
});

/** Peak RSS (VmHWM) of a process, MB. */
function peakRssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** The process and the workers it forked (not a bundler's helper process of a first build). */
function processes(pid: number): number[] {
  const kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  const workers = (kids ? kids.split(/\s+/).map(Number) : []).filter((k) => fs.readFileSync(`/proc/${k}/cmdline`, 'utf8').split('\0').includes('__worker'));
  return [pid, ...workers];
}

describe.each([1, 2])('with %i worker(s)', (workers) => {
  let pid: number;
  let proxy: string;
  let at: string;

  beforeAll(async () => {
    at = fs.mkdtempSync(path.join(dir, `w${workers}-`));
    fs.writeFileSync(
      path.join(at, 'policy.yaml'),
      `listen: { proxy: 127.0.0.1:0 }
upstream:
  ca_files: [${caCert}]
  resolve: { big.test: ${ip} }
hosts:
  - match: big.test
    inject: { headers: { authorization: env:BIG_KEY } }
`,
    );
    const { proc, banner } = await startCli(['--config', 'policy.yaml', '--workers', String(workers)], at, { BIG_KEY: 'Bearer big-secret' });
    pid = proc.pid!;
    proxy = /explicit proxy\s+(\S+)/.exec(banner)![1];
  });

  const peaks = () => processes(pid).map((p) => `${p === pid ? 'airlock' : 'worker'} ${p}: ${peakRssMb(p).toFixed(1)} MB`).join(', ');

  it(`256 MiB down and 256 MiB up keep each airlock process's peak RSS under ${RSS_LIMIT_MB} MB`, async () => {
    const ca = path.join(at, 'ca', 'ca.crt'); // the data dir is the policy's directory
    const all = processes(pid);
    expect(all).toHaveLength(workers === 1 ? 1 : workers + 1);
    console.log(`peak RSS at start: ${peaks()}`);
    const down = await run('curl', ['-sS', '--cacert', ca, '-x', `http://${proxy}`, '-o', '/dev/null', '-w', '%{size_download}', `https://big.test/bytes?n=${SIZE}`]);
    expect(down.stderr).toBe('');
    expect(Number(down.stdout)).toBe(SIZE);
    console.log(`peak RSS after 256 MiB down: ${peaks()}`);

    const upload = await run('bash', ['-c', `head -c ${SIZE} /dev/zero | curl -sS --cacert ${ca} -x http://${proxy} -T - https://big.test/upload`]);
    expect(upload.stderr).toBe('');
    expect(JSON.parse(upload.stdout).bodyBytes).toBe(SIZE);

    console.log(`peak RSS after 2 x 256 MiB: ${peaks()}`);
    for (const p of all) expect(peakRssMb(p)).toBeLessThan(RSS_LIMIT_MB);
  });
});
