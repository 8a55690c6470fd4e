// Command-line interface: start, ca init|show|export|import, check-config, and the commands of
// the other modules. Bad usage (an unknown command or flag) is exit 2 with a suggestion on stderr.
import fs from 'node:fs';
import path from 'node:path';
import { caPaths, exportCa, importCa, initCa } from '../../ca/authority.ts';
import { loadPolicyFile, loadPolicyText } from '../../policies/load.ts';
import type { Config } from '../../policies/types.ts';
import { banner } from './banner.ts';
import { err, out } from './output.ts';
import { logEvent } from '../log.ts';
import { firstPolicy } from './first-policy.ts';
import { packageFile } from '../package-file.ts';
import { startAirlock } from '../main.ts';
import { startSupervisor } from '../workers/supervisor.ts';
import { runWorker } from '../workers/worker.ts';
import { workerCount } from '../workers/count.ts';
import { IPTABLES_HELP, iptablesCommand } from './iptables.ts';
import { watchPolicy } from '../policy-watch.ts';
import { CA_INSTALL_HELP, caInstallCommand } from './ca-install.ts';
import { DLP_HELP, dlpCommand } from './dlp.ts';
import { FLOWS_HELP, flowsCommand } from './flows.ts';
import { SESSIONS_HELP, sessionsCommand } from './sessions.ts';
import { UI_HELP, uiCommand } from './ui-tokens.ts';
import { parseCli, unknownSubcommand } from './args.ts';
import { POLICY_HELP, policyCommand } from './policy.ts';
import { UsageError } from '../flow-filter.ts';

const USAGE = `usage: airlock <command> [options]

commands:
  start [--config FILE] [--workers N] [--reload-on-change]
                                   run the proxy (no --config: ./.airlock/policy.yaml, created on first run)
  check-config FILE                validate a policy file without starting; lists every problem
  ca init [--data-dir DIR | --config FILE]
  ca show [--data-dir DIR | --config FILE]                 print the CA certificate (PEM)
  ca export --format pem|der --out FILE [--data-dir DIR | --config FILE]
  ca import --cert FILE --key FILE [--force] [--data-dir DIR | --config FILE]
  ca install [--trust-dir DIR] [--env-file FILE] [--proxy URL]   put the CA into a trust store
  iptables --interface IFACE --port N [--dns IP] [--apply|--undo]  transparent-mode rules
  flows list|show|export|verify    browse, export (JSONL, HAR) and verify the audit trail
  sessions list|export             agents' LLM sessions: JSONL with their flows' ids, or one as HAR
  policy suggest|replay            draft a policy from recorded flows; replay a candidate policy on them
  dlp scan FILE|- | dlp rules      run the DLP rules on a file or stdin; list the rules
  ui --config FILE [--listen ADDR] the web UI on its own, over the store the policy names
  ui token add|list|revoke         who may log in to the web UI (auditor or admin)

  --version                        print airlock's version

Run "airlock <command> --help" for one command's help.`;

const HELP: Record<string, string> = {
  start: `usage: airlock start [--config FILE] [--workers N] [--reload-on-change]

Runs the proxy with the policy in FILE. Without --config, airlock uses ./.airlock/policy.yaml,
writing a commented example policy there on first run (explicit proxy on 127.0.0.1:8080, every
host denied, the flow store capped at half the free space of its file system). Relative paths
in the policy, and its data dir when it sets none, resolve against the policy file's directory,
wherever airlock is started from. The CA is created in the data dir if it does not exist yet.
SIGTERM or SIGINT stops it after recording every flow (requests in progress get up to 10 s to
finish). SIGHUP re-reads the policy: a policy with problems is reported on stderr and not
applied; changes that need a restart (listeners, data dir, store, CA, limits) are named. --reload-on-change re-reads it also
when its content changes (looked at every 2 s; for a policy mounted from a Kubernetes ConfigMap).
--workers N serves agents from N processes behind the same listeners (default: the policy's
\`workers:\`, else one per core airlock may use); one supervisor keeps the store, the budgets,
/metrics and the UI, and replaces a worker that dies.`,
  'check-config': `usage: airlock check-config FILE

Validates a policy file exactly as "airlock start" would, without starting. Prints every problem
as "path: problem" and exits 1, or prints "ok" and exits 0.`,
  ca: `usage: airlock ca init|show|export|import [options]

  init                               create an ECDSA P-256 CA in DATA_DIR/ca (key 0600, dir 0700)
  show                               print the CA certificate (PEM)
  export --format pem|der --out FILE write the CA certificate to FILE
  import --cert FILE --key FILE [--force]
                                     adopt an existing CA (RSA or EC) instead of creating one

The data dir comes from --data-dir DIR, or from the policy given with --config FILE
(default: ./.airlock).`,
};

HELP.flows = FLOWS_HELP;
HELP.sessions = SESSIONS_HELP;
HELP.policy = POLICY_HELP;
HELP.dlp = DLP_HELP;
HELP.ui = UI_HELP;
HELP.iptables = IPTABLES_HELP;
HELP.ca += `\n\n${CA_INSTALL_HELP}`;

const DEFAULT_DIR = '.airlock';
const COMMANDS = ['start', 'check-config', 'ca', 'iptables', 'flows', 'sessions', 'policy', 'dlp', 'ui', 'help'];

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === '--help' || command === '-h' || command === 'help') return out(USAGE, 0);
    if (command === '--version' || command === '-V' || command === 'version') return out(`airlock ${version()}`, 0);
    // Forked by `airlock start` with workers: never typed by a user, so not listed.
    if (command === '__worker') return await runWorker();
    if (command.startsWith('-')) throw new UsageError(`unknown option ${command}; options come after the command`);
    if (!COMMANDS.includes(command)) throw unknownSubcommand('command', command, COMMANDS);
    if (rest.includes('--help') || rest.includes('-h')) {
      return out(HELP[command] ?? USAGE, HELP[command] ? 0 : 2);
    }
    switch (command) {
      case 'start':
        return await start(rest);
      case 'check-config':
        return checkConfig(rest);
      case 'iptables':
        return await iptablesCommand(rest);
      case 'flows':
        return await flowsCommand(rest);
      case 'sessions':
        return await sessionsCommand(rest);
      case 'policy':
        return await policyCommand(rest);
      case 'dlp':
        return await dlpCommand(rest);
      case 'ui':
        return await uiCommand(rest);
      case 'ca':
        return rest[0] === 'install' ? await caInstallCommand(rest.slice(1), DEFAULT_DIR) : ca(rest);
      default:
        throw unknownSubcommand('command', command, COMMANDS);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      const help = command && HELP[command] ? `\n\n${HELP[command]}` : `\n\nRun "airlock --help" for the commands.`;
      return err(`airlock${command && COMMANDS.includes(command) ? ` ${command}` : ''}: ${e.message}${help}`, 2);
    }
    return err(`airlock ${command}: ${(e as Error).message}`, 1);
  }
}

function version(): string {
  return (JSON.parse(fs.readFileSync(packageFile('package.json'), 'utf8')) as { version: string }).version;
}


/** The policy file named, or ./.airlock/policy.yaml (written from the embedded example on first use). */
function policyFile(configPath: string | undefined): string {
  if (configPath) return path.resolve(configPath);
  const file = path.join(DEFAULT_DIR, 'policy.yaml');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(DEFAULT_DIR, { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, firstPolicy(fs.readFileSync(packageFile('policies/default-policy.yaml'), 'utf8'), DEFAULT_DIR), { flag: 'wx' });
  }
  return path.resolve(file);
}

/** Loads the policy (data dir by default beside it), or every problem, each naming the file. */
function loadConfig(file: string): { config: Config; text: string } | string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return [`${file}: cannot read policy file (${(e as NodeJS.ErrnoException).code ?? 'error'})`];
  }
  const r = loadPolicyText(text, file);
  return r.ok ? { config: r.config, text } : r.errors;
}

function problemsOf(file: string, errors: string[]): string {
  return `airlock: ${path.relative(process.cwd(), file) || file}: ${errors.length} problem(s):\n  ${errors.join('\n  ')}`;
}

async function start(args: string[]): Promise<number> {
  const { values } = parseCli(args, { config: { type: 'string' }, workers: { type: 'string' }, 'reload-on-change': { type: 'boolean' } }, false);
  const file = policyFile(values.config);
  const loaded = loadConfig(file);
  if (Array.isArray(loaded)) return err(problemsOf(file, loaded), 1);
  const { config, text } = loaded;
  const workers = workerCount(values.workers, config.workers);
  // Handlers first: a supervisor may signal as soon as the banner says airlock is up.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  const airlock = workers > 1 ? await startSupervisor(config, workers, { path: file, text }) : await startAirlock(config);
  // Before the banner: a supervisor (or a test) may send SIGHUP as soon as it reads it, and
  // SIGHUP without a handler ends the process.
  const reload = (why: string) => {
    const r = airlock.reload();
    if (r.ok) {
      logEvent('info', 'policy reloaded', { hosts: airlock.config.hosts.length, restart_needed: r.restartNeeded, on: why });
      if (r.restartNeeded.length) {
        process.stderr.write(`airlock: policy reloaded, but changes to ${r.restartNeeded.join(', ')} apply only after a restart; until then the old ${r.restartNeeded.length === 1 ? 'setting stays' : 'settings stay'} in force\n`);
      }
    } else {
      // On stderr, for the operator: stdout carries the flow lines.
      logEvent('error', 'policy reload failed; the policy in force stays', { problems: r.errors.length, on: why });
      process.stderr.write(`${problemsOf(file, r.errors)}\nairlock: policy reload failed; the policy in force stays\n`);
    }
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  const unwatch = values['reload-on-change'] && airlock.config.sourcePath ? watchPolicy(airlock.config.sourcePath, () => reload('change')) : undefined;
  process.stdout.write(banner(airlock));
  await stopped;
  unwatch?.();
  await airlock.close();
  return 0;
}

function checkConfig(args: string[]): number {
  const { positionals } = parseCli(args, {});
  if (positionals.length !== 1) throw new UsageError(positionals.length ? 'give one policy file' : 'which policy file?');
  const r = loadPolicyFile(path.resolve(positionals[0]));
  if (r.ok) return out('ok', 0);
  return err(`${positionals[0]}: ${r.errors.length} problem(s):\n  ${r.errors.join('\n  ')}`, 1);
}

function ca(args: string[]): number {
  const [sub, ...rest] = args;
  if (!['init', 'show', 'export', 'import'].includes(sub ?? '')) {
    if (!sub) throw new UsageError('which subcommand? init, show, export, import or install');
    throw unknownSubcommand('subcommand', sub, ['init', 'show', 'export', 'import', 'install']);
  }
  const { values } = parseCli(
    rest,
    {
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      force: { type: 'boolean' },
    },
    false,
  );
  let dataDir = path.resolve(values['data-dir'] ?? DEFAULT_DIR);
  if (values.config) {
    const loaded = loadConfig(policyFile(values.config));
    if (Array.isArray(loaded)) return err(problemsOf(path.resolve(values.config), loaded), 1);
    dataDir = loaded.config.dataDir;
  }
  switch (sub) {
    case 'init': {
      const r = initCa(dataDir);
      return out(r.created ? `created CA ${r.certPath}` : `CA already exists: ${r.certPath}`, 0);
    }
    case 'show':
      // The same checks as export: a missing or unreadable CA is named, not a raw ENOENT or EACCES.
      return out(exportCa(dataDir, 'pem').toString('utf8'), 0);
    case 'export': {
      const format = values.format ?? 'pem';
      if (format !== 'pem' && format !== 'der') throw new UsageError('--format must be pem or der');
      if (!values.out) throw new UsageError('--out FILE is required');
      fs.writeFileSync(values.out, exportCa(dataDir, format));
      return out(`wrote ${values.out}`, 0);
    }
    case 'import': {
      if (!values.cert || !values.key) throw new UsageError('--cert FILE and --key FILE are required');
      importCa(dataDir, values.cert, values.key, { force: values.force });
      return out(`imported CA into ${caPaths(dataDir).cert}`, 0);
    }
    default:
      return err(HELP.ca, 2);
  }
}
