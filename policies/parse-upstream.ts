// `upstream`: how airlock reaches origins (extra CA roots, pinned addresses, DNS, timeouts).
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { normalizeHost, parsePort } from './hostnames.ts';
import { normalizeIp } from './ip.ts';
import { Problems, checkKeys, join, mapping, optInt, optList, readString } from './problems.ts';
import type { Config } from './types.ts';

export type Upstream = Config['upstream'];

const KEYS = ['ca_files', 'resolve', 'dns_servers', 'connect_timeout_ms', 'response_timeout_ms', 'idle_timeout_ms'];
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

export function parseUpstream(value: unknown, baseDir: string, p: Problems): Upstream {
  const fields = value === null || value === undefined ? new Map<string, unknown>() : mapping(value, 'upstream', p) ?? new Map<string, unknown>();
  checkKeys(fields, KEYS, 'upstream', p);
  const caFiles = (optList(fields, 'ca_files', 'upstream', p, true) ?? []).flatMap((entry, i) => {
    const itemPath = `upstream.ca_files[${i}]`;
    const text = readString(entry, itemPath, p);
    if (text === undefined) return [];
    const file = resolve(baseDir, text);
    const problem = checkCaFile(file);
    if (problem) p.add(itemPath, problem);
    return problem ? [] : [file];
  });
  const dnsServers = (optList(fields, 'dns_servers', 'upstream', p, true) ?? []).flatMap((entry, i) => {
    const itemPath = `upstream.dns_servers[${i}]`;
    const text = readString(entry, itemPath, p);
    if (text === undefined) return [];
    const server = parseDnsServer(text.trim());
    if (!server) p.add(itemPath, 'expected "IP" or "IP:PORT"');
    return server ? [server] : [];
  });
  return {
    caFiles,
    resolve: parseResolve(fields.get('resolve'), p),
    dnsServers,
    connectTimeoutMs: optInt(fields, 'connect_timeout_ms', 'upstream', p, 10_000, 1),
    responseTimeoutMs: optInt(fields, 'response_timeout_ms', 'upstream', p, 60_000, 1),
    idleTimeoutMs: optInt(fields, 'idle_timeout_ms', 'upstream', p, 300_000, 1),
  };
}

/** A problem naming the file, or undefined when it holds at least one certificate that parses. */
function checkCaFile(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  const blocks = text.match(PEM_CERT) ?? [];
  if (blocks.length === 0) return `${file} contains no PEM CERTIFICATE block`;
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      return `${file} contains a CERTIFICATE block that is not a valid certificate`;
    }
  }
  return undefined;
}

/** "ip", "ip:port" or "[v6]:port", in the form dns.Resolver#setServers accepts. */
function parseDnsServer(text: string): string | null {
  const bare = normalizeIp(text);
  if (bare) return bare;
  const form = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(text);
  if (!form) return null;
  const ip = normalizeIp(form[1] ?? form[2]);
  const port = parsePort(form[3]);
  if (!ip || port === null || (form[2] !== undefined && ip.includes(':'))) return null;
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function parseResolve(value: unknown, p: Problems): Map<string, string> {
  const out = new Map<string, string>();
  if (value === null || value === undefined) return out;
  const fields = mapping(value, 'upstream.resolve', p);
  if (!fields) return out;
  for (const [name, address] of fields) {
    const entryPath = join('upstream.resolve', name);
    const host = normalizeHost(name);
    if (!host.ok) {
      p.add(entryPath, host.problem);
      continue;
    }
    const ip = typeof address === 'string' ? normalizeIp(address.trim()) : null;
    if (!ip) {
      p.add(entryPath, 'not an IP address');
      continue;
    }
    if (out.has(host.host)) p.add(entryPath, `${host.host} is listed twice`);
    out.set(host.host, ip);
  }
  return out;
}
