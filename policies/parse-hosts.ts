// The `hosts` list: one rule per entry, every problem reported with its path.
import { METHODS } from 'node:http';
import { parseCidr } from './ip.ts';
import { formatListen, parseListen } from './listen.ts';
import { parseMatch } from './match.ts';
import { Problems, checkKeys, join, mapping, optBool, optList, present, readString, type Fields } from './problems.ts';
import { resolveSecretSource, type SecretResult } from './secrets.ts';
import type { HostRule, InjectedHeader, Placeholder } from './types.ts';

export type DraftRule = Omit<HostRule, 'explain'>;

export interface HostsContext {
  baseDir: string;
  env: NodeJS.ProcessEnv;
  p: Problems;
  /** One Secret object per source, so every header and placeholder naming it shares it. */
  secrets?: Map<string, SecretResult>;
  /** Rule names already taken (name -> path): shared with `deny`, so every rule id is unique. */
  ids?: Map<string, string>;
}

const HOST_KEYS = ['name', 'match', 'agents', 'ports', 'methods', 'paths', 'allow_ips', 'plain_http', 'websocket', 'allow_range', 'inject', 'placeholder'];
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Framing and routing headers belong to the proxy; injecting them would corrupt or redirect requests.
const NOT_INJECTABLE = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive', 'proxy-connection']);
const PLACEHOLDER_CHARS = /^[\x21-\x7e]+$/;

export function parseHosts(value: unknown, ctx: HostsContext): DraftRule[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) {
    ctx.p.add('hosts', 'expected a list');
    return [];
  }
  const rules: DraftRule[] = [];
  const ids = (ctx.ids ??= new Map<string, string>());
  const placeholders = new Map<string, string>();
  value.forEach((item, index) => {
    const path = `hosts[${index}]`;
    const fields = mapping(item, path, ctx.p);
    if (!fields) return;
    const rule = parseRule(fields, index, path, ctx, ids, placeholders);
    if (rule) rules.push(rule);
  });
  return rules;
}

function parseRule(
  fields: Fields,
  index: number,
  path: string,
  ctx: HostsContext,
  ids: Map<string, string>,
  placeholderOwners: Map<string, string>,
): DraftRule | undefined {
  const { p } = ctx;
  checkKeys(fields, HOST_KEYS, path, p);
  const id = parseId(fields, path, p, ids);
  const match = parseRuleMatch(fields, path, p);
  const agents = parseAgents(fields, path, ctx);
  const ports = parsePorts(fields, path, p);
  const methods = parseMethods(fields, path, p);
  const paths = parsePaths(fields, path, p);
  const allowIps = (optList(fields, 'allow_ips', path, p) ?? []).flatMap((entry, i) => {
    const itemPath = `${path}.allow_ips[${i}]`;
    const text = readString(entry, itemPath, p);
    if (text === undefined) return [];
    const cidr = parseCidr(text.trim());
    if (!cidr) p.add(itemPath, 'not an IP address or CIDR block');
    return cidr ? [cidr] : [];
  });
  const plainHttp = optBool(fields, 'plain_http', path, p, false);
  const websocket = optBool(fields, 'websocket', path, p, true);
  const allowRange = optBool(fields, 'allow_range', path, p, false);
  const inject = parseInject(fields, path, ctx);
  const placeholders = parsePlaceholders(fields, path, p, inject, placeholderOwners);
  if (match === undefined) return undefined;
  return { index, id: id ?? path, match, ...(agents ? { agents } : {}), ports, methods, paths, allowIps, plainHttp, websocket, allowRange, injectHeaders: inject.headers, placeholders };
}

export function parseId(fields: Fields, path: string, p: Problems, ids: Map<string, string>): string | undefined {
  if (!present(fields, 'name')) return undefined;
  const namePath = join(path, 'name');
  const name = readString(fields.get('name'), namePath, p);
  if (name === undefined) return undefined;
  if (!NAME.test(name)) {
    p.add(namePath, 'use up to 64 letters, digits, ".", "_" or "-"');
    return undefined;
  }
  const owner = ids.get(name);
  if (owner) p.add(namePath, `"${name}" is already used by ${owner}`);
  else ids.set(name, path);
  return name;
}

export function parseRuleMatch(fields: Fields, path: string, p: Problems, broad = false): string | undefined {
  const matchPath = join(path, 'match');
  if (!present(fields, 'match')) {
    p.add(matchPath, 'required');
    return undefined;
  }
  const text = readString(fields.get('match'), matchPath, p);
  if (text === undefined) return undefined;
  const result = parseMatch(text, broad);
  if (!result.ok) p.add(matchPath, result.problem);
  return result.ok ? result.match : undefined;
}

/** Proxy-Authorization users (printable ASCII without ":"), or `listener:ADDR` as printed. */
const AGENT_USER = /^[\x21-\x39\x3b-\x7e]{1,128}$/;

export function parseAgents(fields: Fields, path: string, ctx: Pick<HostsContext, 'baseDir' | 'p'>): string[] | undefined {
  const { p } = ctx;
  const list = optList(fields, 'agents', path, p);
  if (!list) return undefined;
  const agents = new Set<string>();
  list.forEach((entry, i) => {
    const itemPath = `${path}.agents[${i}]`;
    const text = readString(entry, itemPath, p);
    if (text === undefined) return;
    const trimmed = text.trim();
    if (trimmed.startsWith('listener:')) {
      const l = parseListen(trimmed.slice('listener:'.length), ctx.baseDir);
      if (!l.ok) p.add(itemPath, `listener: ${l.problem}`);
      else agents.add(`listener:${formatListen(l.addr)}`);
    } else if (AGENT_USER.test(trimmed)) agents.add(trimmed);
    else p.add(itemPath, 'expected a Proxy-Authorization user name (printable ASCII without ":" or spaces, up to 128) or "listener:ADDR"');
  });
  return [...agents];
}

export function parsePorts(fields: Fields, path: string, p: Problems): number[] | undefined {
  const list = optList(fields, 'ports', path, p);
  if (!list) return undefined;
  const ports = new Set<number>();
  list.forEach((entry, i) => {
    if (typeof entry === 'number' && Number.isInteger(entry) && entry >= 1 && entry <= 65535) ports.add(entry);
    else p.add(`${path}.ports[${i}]`, 'expected a port number from 1 to 65535');
  });
  return [...ports];
}

export function parseMethods(fields: Fields, path: string, p: Problems): string[] | undefined {
  const list = optList(fields, 'methods', path, p);
  if (!list) return undefined;
  const methods = new Set<string>();
  list.forEach((entry, i) => {
    const itemPath = `${path}.methods[${i}]`;
    const text = readString(entry, itemPath, p);
    if (text === undefined) return;
    const upper = text.trim().toUpperCase();
    if (METHODS.includes(upper)) methods.add(upper);
    else p.add(itemPath, `"${text}" is not an HTTP method`);
  });
  return [...methods];
}

export function parsePaths(fields: Fields, path: string, p: Problems): string[] | undefined {
  const list = optList(fields, 'paths', path, p);
  if (!list) return undefined;
  const prefixes = new Set<string>();
  list.forEach((entry, i) => {
    const itemPath = `${path}.paths[${i}]`;
    const text = readString(entry, itemPath, p);
    if (text === undefined) return;
    if (!text.startsWith('/')) p.add(itemPath, 'must start with "/"');
    else if (/[?#]/.test(text)) p.add(itemPath, 'must not contain "?" or "#"');
    else if (text.split('/').some((s) => s === '.' || s === '..')) p.add(itemPath, 'must not contain "." or ".." segments');
    else prefixes.add(text);
  });
  return [...prefixes];
}

interface Inject {
  headers: InjectedHeader[];
  /** Secret sources named, resolvable or not: decides whether placeholders are meaningful. */
  sources: Set<string>;
}

function parseInject(fields: Fields, path: string, ctx: HostsContext): Inject {
  const { p } = ctx;
  const inject: Inject = { headers: [], sources: new Set() };
  if (!present(fields, 'inject')) return inject;
  const injectPath = join(path, 'inject');
  const injectFields = mapping(fields.get('inject'), injectPath, p);
  if (!injectFields) return inject;
  checkKeys(injectFields, ['headers'], injectPath, p);
  if (!present(injectFields, 'headers')) return inject;
  const headersPath = join(injectPath, 'headers');
  const headers = mapping(injectFields.get('headers'), headersPath, p);
  if (!headers) return inject;
  const seen = new Set<string>();
  for (const [rawName, source] of headers) {
    const headerPath = join(headersPath, rawName);
    const name = rawName.toLowerCase();
    if (!TOKEN.test(rawName)) p.add(headerPath, 'not a valid HTTP header name');
    else if (NOT_INJECTABLE.has(name)) p.add(headerPath, `"${name}" is set by the proxy and cannot be injected`);
    else if (seen.has(name)) p.add(headerPath, 'duplicate header name (header names are case-insensitive)');
    seen.add(name);
    if (typeof source !== 'string') {
      p.add(headerPath, 'expected "env:NAME" or "file:PATH"');
      continue;
    }
    const resolved = resolveOnce(source.trim(), ctx);
    if (resolved.ok || resolved.problem !== 'expected "env:NAME" or "file:PATH"') inject.sources.add(source.trim());
    if (!resolved.ok) {
      p.add(headerPath, resolved.problem);
      continue;
    }
    // A line break in a secret would let it split the request into extra headers.
    if (/[\r\n\0]/.test(resolved.secret.reveal())) {
      p.add(headerPath, `the value of ${resolved.secret.name} contains a line break or NUL byte`);
      continue;
    }
    inject.headers.push({ name, secret: resolved.secret });
  }
  return inject;
}

function resolveOnce(source: string, ctx: HostsContext): SecretResult {
  ctx.secrets ??= new Map();
  let result = ctx.secrets.get(source);
  if (!result) {
    result = resolveSecretSource(source, ctx.env, ctx.baseDir);
    ctx.secrets.set(source, result);
  }
  return result;
}

function parsePlaceholders(
  fields: Fields,
  path: string,
  p: Problems,
  inject: Inject,
  owners: Map<string, string>,
): Placeholder[] {
  if (!present(fields, 'placeholder')) return [];
  const basePath = join(path, 'placeholder');
  const raw = fields.get('placeholder');
  const entries: [unknown, string][] = Array.isArray(raw)
    ? raw.map((entry, i): [unknown, string] => [entry, `${basePath}[${i}]`])
    : [[raw, basePath]];
  if (entries.length === 0) p.add(basePath, 'must not be empty; leave the key out instead');
  const values: string[] = [];
  for (const [entry, itemPath] of entries) {
    const value = readString(entry, itemPath, p);
    if (value === undefined) continue;
    if (value.length < 8) p.add(itemPath, 'must be at least 8 characters');
    else if (!PLACEHOLDER_CHARS.test(value)) p.add(itemPath, 'must be printable ASCII without spaces');
    else if (owners.has(value)) p.add(itemPath, `"${value}" is already used by ${owners.get(value)}`);
    else {
      owners.set(value, itemPath);
      values.push(value);
    }
  }
  // A placeholder is swapped for "the" secret of its rule, so that secret must be unambiguous.
  if (inject.sources.size !== 1) {
    const named = inject.sources.size === 0 ? '0' : `${inject.sources.size}: ${[...inject.sources].join(', ')}`;
    p.add(basePath, `a placeholder stands for the rule's injected secret, so the rule must inject exactly one secret (it injects ${named})`);
    return [];
  }
  const secret = inject.headers[0]?.secret;
  if (!secret) return [];
  return values.flatMap((value) => {
    if (value !== secret.reveal()) return [{ value, secret }];
    p.add(basePath, 'must not be the secret itself');
    return [];
  });
}
