// `listen` and `routes`: where airlock accepts connections, and no two listeners may collide.
import { normalizeHost } from './hostnames.ts';
import { formatListen, parseListen, sameSocket } from './listen.ts';
import { Problems, checkKeys, join, mapping, optList, present, readString, type Fields } from './problems.ts';
import type { ListenAddr, Route } from './types.ts';

type ListenSection = { proxy?: ListenAddr; transparent?: ListenAddr; admin?: ListenAddr; ui?: ListenAddr };
const LISTEN_KEYS = ['proxy', 'transparent', 'admin', 'ui'] as const;

export function parseListenSection(value: unknown, baseDir: string, p: Problems): ListenSection {
  if (value === null || value === undefined) return {};
  const fields = mapping(value, 'listen', p);
  if (!fields) return {};
  checkKeys(fields, [...LISTEN_KEYS], 'listen', p);
  const out: ListenSection = {};
  for (const key of LISTEN_KEYS) {
    const addr = readListen(fields, key, 'listen', baseDir, p);
    if (addr) out[key] = addr;
  }
  return out;
}

function readListen(fields: Fields, key: string, path: string, baseDir: string, p: Problems): ListenAddr | undefined {
  if (!present(fields, key)) return undefined;
  const keyPath = join(path, key);
  const text = readString(fields.get(key), keyPath, p);
  if (text === undefined) return undefined;
  const result = parseListen(text.trim(), baseDir);
  if (!result.ok) p.add(keyPath, result.problem);
  return result.ok ? result.addr : undefined;
}

const UPSTREAM_FORM = 'expected an http(s) URL like "https://api.example.com"';

export function parseUpstreamUrl(text: string): { ok: true; url: URL } | { ok: false; problem: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, problem: UPSTREAM_FORM };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, problem: UPSTREAM_FORM };
  if (url.username !== '' || url.password !== '') return { ok: false, problem: 'must not contain user info; inject credentials with a hosts rule' };
  if (text.includes('?') || text.includes('#')) return { ok: false, problem: 'must not contain a query or fragment' };
  const host = normalizeHost(url.hostname);
  if (!host.ok) return host;
  return { ok: true, url };
}

export interface Listener {
  path: string;
  addr: ListenAddr;
}

/** Also returns every valid listener, even of a broken route, so clashes are reported in the same run. */
export function parseRoutes(value: unknown, baseDir: string, p: Problems): { routes: Route[]; listeners: Listener[] } {
  const wrapper = new Map([['routes', value]]);
  const list = optList(wrapper, 'routes', '', p, true) ?? [];
  const routes: Route[] = [];
  const listeners: Listener[] = [];
  list.forEach((item, index) => {
    const path = `routes[${index}]`;
    const fields = mapping(item, path, p);
    if (!fields) return;
    checkKeys(fields, ['listen', 'upstream'], path, p);
    for (const key of ['listen', 'upstream']) if (!present(fields, key)) p.add(join(path, key), 'required');
    const listen = readListen(fields, 'listen', path, baseDir, p);
    let upstream: URL | undefined;
    if (present(fields, 'upstream')) {
      const upstreamPath = join(path, 'upstream');
      const text = readString(fields.get('upstream'), upstreamPath, p);
      const result = text === undefined ? undefined : parseUpstreamUrl(text.trim());
      if (result && !result.ok) p.add(upstreamPath, result.problem);
      if (result?.ok) upstream = result.url;
    }
    if (listen) listeners.push({ path: join(path, 'listen'), addr: listen });
    if (listen && upstream) routes.push({ index, listen, upstream });
  });
  return { routes, listeners };
}

/** Reports listeners that would fail with EADDRINUSE against an earlier one. */
export function checkListenerClashes(listen: ListenSection, routeListeners: Listener[], p: Problems): void {
  const taken: Listener[] = [];
  const all: { path: string; addr: ListenAddr | undefined }[] = [
    ...LISTEN_KEYS.map((key) => ({ path: `listen.${key}`, addr: listen[key] })),
    ...routeListeners,
  ];
  for (const { path, addr } of all) {
    if (!addr) continue;
    const clash = taken.find((t) => sameSocket(t.addr, addr));
    if (!clash) {
      taken.push({ path, addr });
      continue;
    }
    const mine = formatListen(addr);
    const theirs = formatListen(clash.addr);
    p.add(path, mine === theirs ? `${mine} is already used by ${clash.path}` : `${mine} overlaps ${clash.path} (${theirs})`);
  }
}
