// `airlock iptables`: prints (default), applies or removes the rules of proxy/cli/iptables-rules.ts by
// running the printed script with sh, so the reviewed text and the applied rules are one thing.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseCli } from './args.ts';
import { type Ipv6Method, type Mode, type RuleOptions, applyScript, chains, undoScript, validate } from './iptables-rules.ts';
import { err, out } from './output.ts';

export const IPTABLES_HELP = `usage: airlock iptables --interface IFACE --port N [--dns IP]... [--airlock-ip IP] [--apply | --undo]
       airlock iptables --mode output --uid N --port N [--dns IP]... [--apply | --undo]

Prints (default), applies (--apply) or removes (--undo) the firewall rules that send an agent's
TCP 80/443 to airlock's transparent port and drop everything else it sends, IPv4 and IPv6.

  --interface IFACE   forward mode: the agent's interface as seen from the host (container veth or bridge)
  --port N            airlock's transparent port (listen.transparent)
  --dns IP            the only resolver the agent may reach, UDP and TCP 53 (repeatable; none: no DNS;
                      "system": the nameservers in this host's /etc/resolv.conf, e.g. in a pod)
  --airlock-ip IP     airlock listens on IP (e.g. another container): DNAT there instead of REDIRECT
  --mode output       airlock runs on the agent's host: redirect every local process except --uid
  --uid N             output mode: airlock's user id (its own connections are left alone)
  --apply             apply the rules (idempotent: re-running refreshes them)
  --undo              remove exactly the jumps and chains --apply added (needs --interface, or --mode output)

Rules live in dedicated chains AIRLOCK_NAT_<iface> and AIRLOCK_FLT_<iface> (AIRLOCK_*_OUTPUT in
output mode), jumped to from PREROUTING, INPUT and FORWARD (nat and filter OUTPUT in output mode).
See docs/deploy.md.`;

const MISSING = `iptables not found: install it (Debian/Ubuntu: apt-get install iptables; Alpine: apk add iptables ip6tables; RHEL/Fedora: dnf install iptables-nft)`;
// root's tools live in sbin, which a non-login PATH may lack.
const PATH_EXTRA = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

export async function iptablesCommand(args: string[]): Promise<number> {
  const { values } = parseCli(
    args,
    {
      interface: { type: 'string' },
      port: { type: 'string' },
      dns: { type: 'string', multiple: true },
      'airlock-ip': { type: 'string' },
      mode: { type: 'string' },
      uid: { type: 'string' },
      apply: { type: 'boolean' },
      undo: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    false,
  );
  if (values.help) return out(IPTABLES_HELP, 0);
  if (values.apply && values.undo) return err('--apply and --undo exclude each other', 2);
  const mode = (values.mode ?? 'forward') as Mode;
  if (mode !== 'forward' && mode !== 'output') return err('--mode must be forward or output', 2);
  const opts: RuleOptions = {
    mode,
    iface: values.interface,
    port: num(values.port),
    dns: (values.dns ?? []).flatMap((d) => (d === 'system' ? systemResolvers() : [d])),
    airlockIp: values['airlock-ip'],
    uid: num(values.uid),
  };
  const action = values.undo ? 'undo' : 'apply';
  const problems = validate(opts, action);
  if (problems.length) return err(`${problems.join('\n')}\n\n${IPTABLES_HELP}`, 2);

  const env = { ...process.env, PATH: [process.env.PATH ?? '', ...PATH_EXTRA].filter(Boolean).join(':') };
  const installed = has('iptables', env.PATH) && has('iptables-restore', env.PATH);
  if (!installed && (values.apply || values.undo)) return err(MISSING, 1);
  if (!installed) process.stderr.write(`note: ${MISSING}\n`);
  // Printing for another machine: assume it has ip6tables.
  const ipv6 = installed ? ipv6Method(env) : 'ip6tables';
  const script = action === 'undo' ? undoScript(opts, ipv6) : applyScript(opts, ipv6);
  if (!values.apply && !values.undo) return out(script, 0);

  const code = await runSh(script, env);
  const { nat, filter } = chains(opts);
  const family = ipv6 === 'ip6tables' ? 'IPv4 and IPv6' : `IPv4; IPv6 switched ${action === 'undo' ? 'back on' : 'off'}`;
  if (code !== 0) return err(`airlock iptables: ${action} failed (see above); run without --apply/--undo to print the script`, 1);
  if (action === 'undo') return out(`removed ${nat} and ${filter} and their jumps (${family})`, 0);
  const undo = mode === 'output' ? '--mode output' : `--interface ${opts.iface}`;
  return out(`applied ${nat} and ${filter} (${family}); remove with: airlock iptables --undo ${undo}`, 0);
}

/** Digits only: Number('') would be 0, a valid uid. */
const num = (v: string | undefined) => (v === undefined ? undefined : /^\d+$/.test(v) ? Number(v) : NaN);

/** Nameservers of /etc/resolv.conf; scoped link-local ones (fe80::1%eth0) cannot be written as -d. */
function systemResolvers(): string[] {
  const text = fs.existsSync('/etc/resolv.conf') ? fs.readFileSync('/etc/resolv.conf', 'utf8') : '';
  const found = [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]).filter((ip) => !ip.includes('%'));
  if (!found.length) throw new Error('--dns system: no nameserver in /etc/resolv.conf');
  return found;
}

function has(cmd: string, pathVar: string): boolean {
  return pathVar.split(':').some((d) => {
    try {
      fs.accessSync(path.join(d, cmd), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** ip6tables when it is installed and the kernel takes both tables; otherwise IPv6 is switched off. */
function ipv6Method(env: NodeJS.ProcessEnv): Ipv6Method {
  if (!has('ip6tables', env.PATH!) || !has('ip6tables-restore', env.PATH!)) return 'sysctl';
  // Only root can probe the kernel; a non-root print assumes the usual case.
  if (process.getuid?.() !== 0) return 'ip6tables';
  const ok = (table: string, chain: string) => spawnSync('ip6tables', ['-w', '-t', table, '-S', chain], { env, stdio: 'ignore' }).status === 0;
  return ok('filter', 'INPUT') && ok('nat', 'PREROUTING') ? 'ip6tables' : 'sysctl';
}

function runSh(script: string, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn('sh', ['-e', '-s'], { env, stdio: ['pipe', 'inherit', 'inherit'] });
    p.on('error', reject);
    p.on('close', (code) => resolve(code ?? 1));
    p.stdin.end(script);
  });
}

