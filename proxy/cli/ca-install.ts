// `airlock ca install`: runs deploy/install-ca.sh on airlock's CA certificate, so image builds
// (which have no Node) and this command share one implementation.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseCli } from './args.ts';
import { caPaths } from '../../ca/authority.ts';
import { loadPolicyFile } from '../../policies/load.ts';
import { packageFile } from '../package-file.ts';

export const CA_INSTALL_HELP = `usage: airlock ca install [--data-dir DIR | --config FILE | --cert FILE] [--trust-dir DIR] [--env-file FILE] [--proxy URL]

Installs airlock's CA certificate (DATA_DIR/ca/ca.crt, or --cert FILE) into this system's trust
store (Debian/Ubuntu/Alpine: update-ca-certificates; RHEL/Fedora: update-ca-trust; Java cacerts if
keytool exists), or with --trust-dir DIR into DIR/ca-bundle.pem (system bundle + CA) only. Writes
an env file (default /etc/airlock/agent.env, or DIR/agent.env) with NODE_EXTRA_CA_CERTS,
SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, GIT_SSL_CAINFO, PIP_CERT and NPM_CONFIG_CAFILE;
with --proxy URL also HTTP_PROXY/HTTPS_PROXY (both cases), NO_PROXY and NODE_USE_ENV_PROXY=1.
Images without Node run the same script: deploy/install-ca.sh [options] CA.pem`;

/** dataDir: the default data dir (./.airlock), overridden by --data-dir or the policy's data_dir. */
export async function caInstallCommand(args: string[], dataDir: string): Promise<number> {
  const { values } = parseCli(
    args,
    {
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      cert: { type: 'string' },
      'trust-dir': { type: 'string' },
      'env-file': { type: 'string' },
      proxy: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    false,
  );
  if (values.help) {
    process.stdout.write(CA_INSTALL_HELP + '\n');
    return 0;
  }
  let dir = path.resolve(values['data-dir'] ?? dataDir);
  if (values.config) {
    const r = loadPolicyFile(path.resolve(values.config));
    if (!r.ok) return fail(`airlock: the policy has problems:\n  ${r.errors.join('\n  ')}`);
    dir = r.config.dataDir;
  }
  const cert = path.resolve(values.cert ?? caPaths(dir).cert);
  if (!fs.existsSync(cert)) return fail(`no CA certificate at ${cert}: run "airlock ca init" (or "airlock start") first, or pass --cert FILE`);
  const script: string[] = [];
  if (values['trust-dir']) script.push('--trust-dir', path.resolve(values['trust-dir']));
  if (values['env-file']) script.push('--env-file', path.resolve(values['env-file']));
  if (values.proxy) script.push('--proxy', values.proxy);
  return runScript([...script, cert]);
}

function runScript(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn('sh', [packageFile('deploy/install-ca.sh'), ...args], { stdio: 'inherit' });
    p.on('error', reject);
    p.on('close', (code) => resolve(code ?? 1));
  });
}

function fail(text: string): number {
  process.stderr.write(text + '\n');
  return 1;
}
