// Bodies stream with backpressure: 256 MiB up and 256 MiB down through airlock keep its
// resident memory flat. Measured on the airlock process itself (VmHWM), not timed.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tempDir } from '../helpers/airlock.ts';
import { children, startCli } from '../helpers/cli.ts';
import { run } from '../helpers/run.ts';
import { type TestUpstream, startTlsUpstream } from '../helpers/upstream.ts';

const SIZE = 256 * 1024 * 1024;
const RSS_LIMIT_MB = 150;
let up: TestUpstream;
let pid: number;
let proxy: string;
let dir: string;

beforeAll(async () => {
  dir = tempDir();
  const { ip, pki, up: started } = await startTlsUpstream(dir, ['big.test']);
  up = started;
  fs.writeFileSync(
    path.join(dir, 'policy.yaml'),
    `listen: { proxy: 127.0.0.1:0 }
upstream:
  ca_files: [${pki.caCert}]
  resolve: { big.test: ${ip} }
hosts:
  - match: big.test
    inject: { headers: { authorization: env:BIG_KEY } }
`,
  );
  const { proc, banner } = await startCli(['--config', 'policy.yaml'], dir, { BIG_KEY: 'Bearer big-secret' });
  pid = proc.pid!;
  proxy = /explicit proxy\s+(\S+)/.exec(banner)![1];
});

afterAll(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await up?.close();
});

function peakRssMb(): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

it(`256 MiB down and 256 MiB up keep airlock's peak RSS under ${RSS_LIMIT_MB} MB`, async () => {
  const ca = path.join(dir, 'ca', 'ca.crt') // the data dir is the policy's directory;
  console.log(`airlock peak RSS at start: ${peakRssMb().toFixed(1)} MB`);
  const down = await run('curl', ['-sS', '--cacert', ca, '-x', `http://${proxy}`, '-o', '/dev/null', '-w', '%{size_download}', `https://big.test/bytes?n=${SIZE}`]);
  expect(down.stderr).toBe('');
  expect(Number(down.stdout)).toBe(SIZE);
  console.log(`airlock peak RSS after 256 MiB down: ${peakRssMb().toFixed(1)} MB`);

  const upload = await run('bash', ['-c', `head -c ${SIZE} /dev/zero | curl -sS --cacert ${ca} -x http://${proxy} -T - https://big.test/upload`]);
  expect(upload.stderr).toBe('');
  expect(JSON.parse(upload.stdout).bodyBytes).toBe(SIZE);

  const peak = peakRssMb();
  console.log(`airlock peak RSS after 2 x 256 MiB: ${peak.toFixed(1)} MB`);
  expect(peak).toBeLessThan(RSS_LIMIT_MB);
});
