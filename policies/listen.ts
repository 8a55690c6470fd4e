// Listener addresses: "HOST:PORT", "[v6]:PORT" or "unix:/path".
import { resolve } from 'node:path';
import { normalizeHost, splitAuthority } from './hostnames.ts';
import type { ListenAddr } from './types.ts';

export type ListenResult = { ok: true; addr: ListenAddr } | { ok: false; problem: string };

const FORM = 'expected "HOST:PORT" or "unix:/path"';
// sun_path is 108 bytes on Linux, including the terminating NUL; longer paths fail only at bind time.
const MAX_UNIX_PATH = 107;

/** Relative unix socket paths are resolved against baseDir (the policy file's directory). */
export function parseListen(text: string, baseDir: string): ListenResult {
  if (text.startsWith('unix:')) {
    const raw = text.slice(5);
    if (raw === '') return { ok: false, problem: FORM };
    const path = resolve(baseDir, raw);
    if (Buffer.byteLength(path) > MAX_UNIX_PATH) {
      return { ok: false, problem: `unix socket path ${path} is longer than ${MAX_UNIX_PATH} bytes` };
    }
    return { ok: true, addr: { kind: 'unix', path } };
  }
  // A listener needs an explicit port; splitAuthority would quietly use a default.
  const form = /^(\[[^\]]*\]|[^:[\]]+):(.*)$/.exec(text);
  if (!form) return { ok: false, problem: FORM };
  // Port 0: the system picks a free port (tests, side-cars); the banner prints the real one.
  if (form[2] === '0') {
    const host = splitAuthority(form[1], 1);
    return host.ok ? { ok: true, addr: { kind: 'tcp', host: host.host, port: 0 } } : { ok: false, problem: host.problem };
  }
  const split = splitAuthority(text, 0);
  if (!split.ok) return { ok: false, problem: split.problem.startsWith('port ') ? split.problem : FORM };
  return { ok: true, addr: { kind: 'tcp', host: split.host, port: split.port } };
}

export function formatListen(addr: ListenAddr): string {
  if (addr.kind === 'unix') return `unix:${addr.path}`;
  return addr.host.includes(':') ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}

function isWildcard(host: string): boolean {
  const h = normalizeHost(host);
  return h.ok && (h.host === '0.0.0.0' || h.host === '::');
}

/** Would binding both fail with EADDRINUSE? A wildcard host overlaps every host on the same port. */
export function sameSocket(a: ListenAddr, b: ListenAddr): boolean {
  if (a.kind === 'unix' && b.kind === 'unix') return a.path === b.path;
  if (a.kind !== 'tcp' || b.kind !== 'tcp') return false;
  if (a.port !== b.port || a.port === 0) return false;
  return a.host === b.host || isWildcard(a.host) || isWildcard(b.host);
}
