// Command-line interface: start, ca init|show|export|import, check-config.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { caPaths, exportCa, importCa, initCa } from '../ca/authority.ts';
import { loadPolicyFile } from '../policies/load.ts';
import type { Config } from '../policies/types.ts';
import { banner } from './banner.ts';
import { err, out } from './cli-output.ts';
import { logEvent } from './log.ts';
import { firstPolicy } from './first-policy.ts';
import { packageFile } from './package-file.ts';
import { startAirlock } from './main.ts';
import { watchPolicy } from './policy-watch.ts';
import { IPTABLES_HELP, iptablesCommand } from './cli-iptables.ts';
import { CA_INSTALL_HELP, caInstallCommand } from './ca-install.ts';
import { DLP_HELP, dlpCommand } from './dlp-cli.ts';
import { FLOWS_HELP, flowsCommand } from './flows-cli.ts';
import { SESSIONS_HELP, sessionsCommand } from './sessions-cli.ts';
import { UI_HELP, uiCommand } from '../web-ui/cli.ts';

const USAGE = `usage: airlock <command> [options]

commands:
  start [--config FILE] [--reload-on-change]
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
  dlp scan FILE|- | dlp rules      run the DLP rules on a file or stdin; list the rules
  ui --config FILE [--listen ADDR] the web UI on its own, over the store the policy names
  ui token add|list|revoke         who may log in to the web UI (auditor or admin)

Run "airlock <command> --help" for one command's help.`;

const HELP: Record<string, string> = {
  start: `usage: airlock start [--config FILE] [--reload-on-change]

Runs the proxy with the policy in FILE. Without --config, airlock uses ./.airlock/policy.yaml,
writing a commented example policy there on first run (explicit proxy on 127.0.0.1:8080, every
host denied, the flow store capped at half the free space of its file system). The CA is
created in the data dir if it does not exist yet. SIGTERM or SIGINT stops it after recording
every flow (requests in progress get up to 10 s to finish). SIGHUP re-reads the policy: a
policy with problems is reported and not applied. --reload-on-change re-reads it also when its
content changes (looked at every 2 s; for a policy mounted from a Kubernetes ConfigMap).`,
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
HELP.dlp = DLP_HELP;
HELP.ui = UI_HELP;
HELP.iptables = IPTABLES_HELP;
HELP.ca += `\n\n${CA_INSTALL_HELP}`;

const DEFAULT_DIR = '.airlock';

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === '--help' || command === '-h' || command === 'help') return out(USAGE, 0);
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
      case 'dlp':
        return await dlpCommand(rest);
      case 'ui':
        return await uiCommand(rest);
      case 'ca':
        return rest[0] === 'install' ? await caInstallCommand(rest.slice(1), DEFAULT_DIR) : ca(rest);
      default:
        return err(`airlock: unknown command "${command}"\n\n${USAGE}`, 2);
    }
  } catch (e) {
    return err(`airlock ${command}: ${(e as Error).message}`, 1);
  }
}


/** Loads the policy, or prints every problem. Without a path, the embedded default is used. */
function loadConfig(configPath: string | undefined): Config | string[] {
  let file = configPath;
  if (!file) {
    file = path.join(DEFAULT_DIR, 'policy.yaml');
    if (!fs.existsSync(file)) {
      fs.mkdirSync(DEFAULT_DIR, { recursive: true, mode: 0o700 });
      fs.writeFileSync(file, firstPolicy(fs.readFileSync(packageFile('policies/default-policy.yaml'), 'utf8'), DEFAULT_DIR), { flag: 'wx' });
    }
  }
  const r = loadPolicyFile(path.resolve(file), { defaultDataDir: path.resolve(DEFAULT_DIR) });
  return r.ok ? r.config : r.errors;
}

async function start(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, 'reload-on-change': { type: 'boolean' } }, strict: true });
  const config = loadConfig(values.config);
  if (Array.isArray(config)) return err(`airlock: the policy has ${config.length} problem(s):\n  ${config.join('\n  ')}`, 1);
  // Handlers first: a supervisor may signal as soon as the banner says airlock is up.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  const airlock = await startAirlock(config);
  process.stdout.write(banner(airlock));
  const reload = (why: string) => {
    const r = airlock.reload();
    if (r.ok) logEvent('info', 'policy reloaded', { hosts: airlock.config.hosts.length, restart_needed: r.restartNeeded, on: why });
    else logEvent('error', 'policy reload failed; the policy in force stays', { errors: r.errors, on: why });
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  const unwatch = values['reload-on-change'] && airlock.config.sourcePath ? watchPolicy(airlock.config.sourcePath, () => reload('change')) : undefined;
  await stopped;
  unwatch?.();
  await airlock.close();
  return 0;
}

function checkConfig(args: string[]): number {
  const { positionals } = parseArgs({ args, allowPositionals: true, strict: true });
  if (positionals.length !== 1) return err(HELP['check-config'], 2);
  const r = loadPolicyFile(path.resolve(positionals[0]), { defaultDataDir: path.resolve(DEFAULT_DIR) });
  if (r.ok) return out('ok', 0);
  return err(`${positionals[0]}: ${r.errors.length} problem(s):\n  ${r.errors.join('\n  ')}`, 1);
}

function ca(args: string[]): number {
  const [sub, ...rest] = args;
  const { values } = parseArgs({
    args: rest,
    strict: true,
    options: {
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      force: { type: 'boolean' },
    },
  });
  let dataDir = path.resolve(values['data-dir'] ?? DEFAULT_DIR);
  if (values.config) {
    const config = loadConfig(values.config);
    if (Array.isArray(config)) return err(`airlock: the policy has problems:\n  ${config.join('\n  ')}`, 1);
    dataDir = config.dataDir;
  }
  switch (sub) {
    case 'init': {
      const r = initCa(dataDir);
      return out(r.created ? `created CA ${r.certPath}` : `CA already exists: ${r.certPath}`, 0);
    }
    case 'show':
      return out(fs.readFileSync(caPaths(dataDir).cert, 'utf8'), 0);
    case 'export': {
      const format = values.format ?? 'pem';
      if (format !== 'pem' && format !== 'der') return err('--format must be pem or der', 2);
      if (!values.out) return err('--out FILE is required', 2);
      fs.writeFileSync(values.out, exportCa(dataDir, format));
      return out(`wrote ${values.out}`, 0);
    }
    case 'import': {
      if (!values.cert || !values.key) return err('--cert FILE and --key FILE are required', 2);
      importCa(dataDir, values.cert, values.key, { force: values.force });
      return out(`imported CA into ${caPaths(dataDir).cert}`, 0);
    }
    default:
      return err(HELP.ca, 2);
  }
}
