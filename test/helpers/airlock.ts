// Starts a real airlock in this process from a policy written to a temp dir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadPolicyFile } from '../../policies/load.ts';
import { type Airlock, startAirlock } from '../../proxy/main.ts';

export interface TestAirlock extends Airlock {
  dir: string;
  proxyUrl: string;
  caPem: string;
}

export function tempDir(prefix = 'airlock-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function startTestAirlock(policyYaml: string, env: NodeJS.ProcessEnv = {}, dir = tempDir()): Promise<TestAirlock> {
  const file = path.join(dir, 'policy.yaml');
  // In-process airlocks keep the test output readable: flow log lines only where a test asks.
  fs.writeFileSync(file, /^log:/m.test(policyYaml) ? policyYaml : `${policyYaml}\nlog: { flows: false }\n`);
  const r = loadPolicyFile(file, { env: { ...process.env, ...env }, defaultDataDir: path.join(dir, 'data') });
  if (!r.ok) throw new Error(`test policy invalid:\n${r.errors.join('\n')}`);
  const a = await startAirlock(r.config);
  // Assigned onto the airlock itself, not spread: `config` is a getter that follows reloads.
  return Object.assign(a, {
    dir,
    proxyUrl: a.addresses.proxy ? `http://${a.addresses.proxy.address}` : '',
    caPem: fs.readFileSync(a.caCertPath, 'utf8'),
  });
}
