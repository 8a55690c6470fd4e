// The start-up banner: where everything is and how to point an agent at airlock.
import path from 'node:path';
import { nativeUnavailable } from '../dlp/native.ts';
import type { Running } from '../main.ts';

export function banner(a: Running): string {
  const rel = (p: string) => path.relative(process.cwd(), p) || p;
  const lines = [`airlock is running${a.config.sourcePath ? ` with the policy ${rel(a.config.sourcePath)}` : ''}${a.config.mode === 'report' ? ' in REPORT mode: requests the policy would deny go through, recorded as would_deny' : ''}`];
  const { proxy, transparent, ui, routes } = a.addresses;
  if (proxy) lines.push(`  explicit proxy  ${proxy.address}   (HTTP_PROXY / HTTPS_PROXY)`);
  if (transparent) lines.push(`  transparent     ${transparent.address}   (iptables REDIRECT target for :443 and :80)`);
  if (ui) {
    lines.push(
      `  web UI          http://${ui.address}/   (log in with ` +
        (a.uiToken
          ? `admin token ${a.uiToken}; shown only now, keep it; also the API's Bearer token)`
          : `the token printed at first start, or one from "airlock ui token add"; delete ${rel(path.join(a.config.dataDir, 'ui-token.sha256'))} for a new first token)`),
    );
  }
  a.config.routes.forEach((r, i) => lines.push(`  route           ${routes[i].address} -> ${r.upstream.href}`));
  lines.push(`  CA certificate  ${rel(a.caCertPath)}   (agents must trust it)`);
  const pg = a.config.store.postgres;
  if (pg) lines.push(`  flow store      PostgreSQL, schema ${pg.schema}, as instance ${a.config.store.instance} (spool ${rel(pg.spool.path)} while it cannot take writes)`);
  else lines.push(`  flow store      ${rel(a.config.store.path)}`);
  if (a.config.sourcePath) {
    lines.push(`  policy          ${rel(a.config.sourcePath)}   (relative paths in it resolve against ${path.dirname(a.config.sourcePath)}/)`);
  }
  if (a.config.presets.length) lines.push(`  presets         ${a.config.presets.join(', ')}`);
  const slow = a.config.dlp.enabled ? nativeUnavailable() : undefined;
  if (slow) lines.push(`  DLP             portable node-re2 engine, several times slower: the native scanner is ${slow}`);
  lines.push('');
  const n = a.config.hosts.length;
  lines.push(
    n === 0
      ? `Every host is denied until the policy allows it: add rules under "hosts:" in the policy, then run kill -HUP ${process.pid} to reload it.`
      : `${n} host rule(s) loaded; every other host is denied. Reload the policy with kill -HUP ${process.pid}.`,
  );
  if (proxy && !proxy.address.startsWith('unix:')) {
    lines.push('Point an agent at airlock:');
    lines.push(`  export HTTPS_PROXY=http://${proxy.address} HTTP_PROXY=http://${proxy.address}`);
    lines.push(`  export NODE_EXTRA_CA_CERTS=${path.resolve(a.caCertPath)} SSL_CERT_FILE=${path.resolve(a.caCertPath)}`);
    lines.push(`  curl --cacert ${rel(a.caCertPath)} -x http://${proxy.address} https://example.com/`);
  }
  return lines.join('\n') + '\n';
}
