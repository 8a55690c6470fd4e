// A throw-away network namespace joined to the host by a veth pair on a random 198.18.64.0/18 /30,
// standing in for an agent container. Names are random per run so runs (and the shared benchmark's
// netns "agent") never collide. Needs root.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { RunResult } from './run.ts';

export interface Netns {
  name: string;
  hostIf: string; // the agent side as seen from the host: what `airlock iptables --interface` names
  hostIp: string;
  nsIp: string;
  hostIp6: string; // 2001:2::/48, IPv6's benchmarking range (RFC 5180), like 198.18.0.0/15
  nsIp6: string;
  /** Runs a program inside the namespace with exactly `env` (plus PATH/HOME), not the test's own environment. */
  exec(cmd: string, args: string[], opts?: { env?: Record<string, string>; input?: string; timeoutMs?: number }): Promise<RunResult>;
  /** Deletes the namespace, the veth pair and /etc/netns/<name>; safe to call twice. */
  destroy(): void;
}

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: 'pipe' }).toString();
const quiet = (cmd: string, args: string[]) => {
  try {
    sh(cmd, args);
  } catch {
    // already gone
  }
};

/** A /30 in 198.18.64.0/18 that no host interface uses yet. */
function freeSubnet(): { hostIp: string; nsIp: string } {
  const used = sh('ip', ['-4', '-o', 'addr', 'show']);
  for (;;) {
    const c = 64 + crypto.randomInt(64);
    const d = 4 * crypto.randomInt(64);
    if (!used.includes(`198.18.${c}.${d + 1}/`)) return { hostIp: `198.18.${c}.${d + 1}`, nsIp: `198.18.${c}.${d + 2}` };
  }
}

/** hostNames resolve to the host's end of the veth inside the namespace (ip netns exec bind-mounts /etc/netns/<name>/hosts over /etc/hosts). */
export function createNetns(hostNames: string[] = []): Netns {
  const id = crypto.randomBytes(3).toString('hex');
  const name = `airlock-t-${id}`;
  const hostIf = `alt${id}h`; // interface names are at most 15 characters
  const nsIf = `alt${id}a`;
  const { hostIp, nsIp } = freeSubnet();
  // Canonical text (no leading zeros in a group), as the kernel and Node print it back.
  const net6 = `2001:2:0:${parseInt(id.slice(0, 4), 16).toString(16)}`;
  const [hostIp6, nsIp6] = [`${net6}::1`, `${net6}::2`];
  const etcDir = `/etc/netns/${name}`;
  const madeEtcRoot = !fs.existsSync('/etc/netns');
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    quiet('ip', ['netns', 'del', name]); // takes the veth pair with it
    quiet('ip', ['link', 'del', hostIf]);
    fs.rmSync(etcDir, { recursive: true, force: true });
    if (madeEtcRoot) quiet('rmdir', ['/etc/netns']);
  };
  try {
    sh('ip', ['netns', 'add', name]);
    fs.mkdirSync(etcDir, { recursive: true });
    const names = hostNames.length ? `${hostIp} ${hostNames.join(' ')}\n` : '';
    fs.writeFileSync(`${etcDir}/hosts`, `127.0.0.1 localhost\n::1 localhost\n${names}`);
    sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', name]);
    sh('ip', ['addr', 'add', `${hostIp}/30`, 'dev', hostIf]);
    sh('ip', ['-6', 'addr', 'add', `${hostIp6}/64`, 'dev', hostIf, 'nodad']); // nodad: usable at once
    sh('ip', ['link', 'set', hostIf, 'up']);
    sh('ip', ['-n', name, 'addr', 'add', `${nsIp}/30`, 'dev', nsIf]);
    sh('ip', ['-n', name, '-6', 'addr', 'add', `${nsIp6}/64`, 'dev', nsIf, 'nodad']);
    sh('ip', ['-n', name, 'link', 'set', nsIf, 'up']);
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', name, 'route', 'add', 'default', 'via', hostIp]);
  } catch (e) {
    destroy();
    throw e;
  }
  return { name, hostIf, hostIp, nsIp, hostIp6, nsIp6, destroy, exec: (cmd, args, opts = {}) => execIn(name, cmd, args, opts) };
}

function execIn(ns: string, cmd: string, args: string[], opts: { env?: Record<string, string>; input?: string; timeoutMs?: number }): Promise<RunResult> {
  // Only what a program needs to start: no proxy or CA variables leak in from the test runner.
  const base: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'LANG', 'PYENV_ROOT', 'PYENV_VERSION']) if (process.env[k]) base[k] = process.env[k]!;
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { env: { ...base, ...opts.env } });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    p.stdout.on('data', (c) => (stdout += c));
    p.stderr.on('data', (c) => (stderr += c));
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A command that exits without reading its input closes the pipe: that is not a failure.
    p.stdin.on('error', () => {});
    p.stdin.end(opts.input ?? '');
  });
}
