// The `hosts` list: one rule per entry, every problem reported with its path.
import { METHODS } from 'node:http';
import { parseCidr } from './ip.ts';
import { formatListen, parseListen } from './listen.ts';
import { parseMatch } from './match.ts';
import { Problems, checkKeys, join, mapping, optBool, optList, present, readString, type Fields } from './problems.ts';
import { parseInject, type ParsedInject } from './parse-inject.ts';
import type { SourceContext } from './parse-secret.ts';
import { valueNow } from './secrets.ts';
import type { HostRule, McpPolicy, Placeholder, PolicyMode } from './types.ts';
import { parseSize } from './units.ts';

export type DraftRule = Omit<HostRule, 'explain'>;

export interface HostsContext extends SourceContext {
  /** Rule names already taken (name -> path): shared with `deny`, so every rule id is unique. */
  ids?: Map<string, string>;
  /** Placeholders already taken (value -> who holds it): shared with `include`, so every placeholder is unique. */
  placeholderOwners?: Map<string, Owner>;
}

const HOST_KEYS = ['name', 'match', 'agents', 'ports', 'methods', 'paths', 'allow_ips', 'plain_http', 'websocket', 'allow_range', 'inject', 'placeholder', 'mcp', 'mode'];
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const PLACEHOLDER_CHARS = /^[\x21-\x7e]+$/;

export function parseHosts(value: unknown, ctx: HostsContext): DraftRule[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) {
    ctx.p.add('hosts', 'expected a list');
    return [];
  }
  const rules: DraftRule[] = [];
  const ids = (ctx.ids ??= new Map<string, string>());
  const placeholders = (ctx.placeholderOwners ??= new Map<string, Owner>());
  value.forEach((item, index) => {
    const path = `hosts[${index}]`;
    const fields = mapping(item, path, ctx.p);
    if (!fields) return;
    const rule = parseRule(fields, index, path, ctx, ids, placeholders);
    if (rule) rules.push(rule);
  });
  return rules;
}

export function parseRule(
  fields: Fields,
  index: number,
  path: string,
  ctx: HostsContext,
  ids: Map<string, string>,
  placeholderOwners: Map<string, Owner>,
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
  const mcp = parseMcp(fields, path, p);
  const mode = parseMode(fields, path, p);
  if (match === undefined) return undefined;
  return {
    index, id: id ?? path, match, ...(agents ? { agents } : {}), ports, methods, paths, allowIps, plainHttp, websocket, allowRange,
    injectHeaders: inject.headers, ...(inject.credential ? { credential: inject.credential } : {}), placeholders,
    ...(mcp ? { mcp } : {}), ...(mode ? { mode } : {}),
  };
}

/** MCP tool names (the spec: letters, digits, _ - . and /) and * for any run of characters. */
const TOOL_GLOB = /^[A-Za-z0-9_\-./*]{1,128}$/;
const MCP_MAX_BODY = 1024 * 1024;

/** `mcp: { tools: [read_*], deny: [delete_*], max_body: 1MiB }`; `mcp: {}` records calls without limiting them. */
function parseMcp(fields: Fields, path: string, p: Problems): McpPolicy | undefined {
  if (!present(fields, 'mcp')) return undefined;
  const mcpPath = join(path, 'mcp');
  const f = mapping(fields.get('mcp'), mcpPath, p);
  if (!f) return undefined;
  checkKeys(f, ['tools', 'deny', 'max_body'], mcpPath, p);
  const globs = (key: string) =>
    optList(f, key, mcpPath, p)?.flatMap((entry, i) => {
      const itemPath = `${mcpPath}.${key}[${i}]`;
      const text = readString(entry, itemPath, p);
      if (text === undefined) return [];
      if (!TOOL_GLOB.test(text.trim())) {
        p.add(itemPath, 'a tool name or glob (letters, digits, _ - . / and *)');
        return [];
      }
      return [text.trim()];
    });
  const tools = globs('tools');
  let maxBodyBytes = MCP_MAX_BODY;
  if (present(f, 'max_body')) {
    const s = parseSize(f.get('max_body'));
    if (!s.ok) p.add(join(mcpPath, 'max_body'), s.problem);
    else if (s.bytes < 1024 || s.bytes > 64 * 1024 * 1024) p.add(join(mcpPath, 'max_body'), 'out of range (1KiB to 64MiB)');
    else maxBodyBytes = s.bytes;
  }
  return { ...(tools ? { tools } : {}), deny: globs('deny') ?? [], maxBodyBytes };
}

/** `mode: enforce|report` (policy-wide, or one rule or preset). */
export function parseMode(fields: Fields, path: string, p: Problems): PolicyMode | undefined {
  if (!present(fields, 'mode')) return undefined;
  const value = fields.get('mode');
  if (value === 'enforce' || value === 'report') return value;
  p.add(join(path, 'mode'), 'expected "enforce" or "report"');
  return undefined;
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

function parsePlaceholders(
  fields: Fields,
  path: string,
  p: Problems,
  inject: ParsedInject,
  owners: Map<string, Owner>,
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
    else {
      const owner = owners.get(value);
      const credential = credentialKey(inject);
      // The same credential on several rules (one AWS key for S3 and STS) may share its placeholder.
      if (owner && (owner.credential === undefined || owner.credential !== credential)) p.add(itemPath, `"${value}" is already used by ${owner.path}`);
      else {
        if (!owner) owners.set(value, { path: itemPath, credential });
        values.push(value);
      }
    }
  }
  // With a scheme the placeholder is what the agent holds in the scheme's place (a bearer token, a
  // password, an AWS access key id); airlock sets the whole credential, so nothing is swapped.
  if (inject.credential) {
    const own = schemeValuesNow(inject.credential);
    return values.flatMap((value) => {
      if (!own.includes(value)) return [{ value }];
      p.add(basePath, 'must not be the secret itself');
      return [];
    });
  }
  if (inject.schemeNamed) return []; // the scheme has problems of its own, already reported
  // Otherwise it is swapped for "the" secret of its rule, so that secret must be unambiguous.
  if (inject.headerSources.size !== 1) {
    const named = inject.headerSources.size === 0 ? '0' : `${inject.headerSources.size}: ${[...inject.headerSources].join(', ')}`;
    p.add(basePath, `a placeholder stands for the rule's injected secret, so the rule must inject exactly one secret (it injects ${named})`);
    return [];
  }
  const secret = inject.headers[0]?.secret;
  if (!secret) return [];
  const now = valueNow(secret);
  return values.flatMap((value) => {
    if (!now?.ok || value !== now.value.reveal()) return [{ value, secret }];
    p.add(basePath, 'must not be the secret itself');
    return [];
  });
}

/** Who holds a placeholder: the rule's path, and which credential it stands for (schemes only). */
export interface Owner {
  path: string;
  credential: string | undefined;
}

/** A scheme's identity: its kind and what the agent's placeholder stands in for (not where it is used). */
function credentialKey(inject: ParsedInject): string | undefined {
  const c = inject.credential;
  switch (c?.kind) {
    case undefined:
      return undefined;
    case 'bearer':
      return `bearer ${c.token.name}`;
    case 'basic':
      return `basic ${c.user} ${c.password.name}`;
    case 'oauth2':
      return `oauth2 ${c.tokenUrl.href} ${c.clientId} ${c.clientSecret.name}`;
    case 'aws_sigv4':
      return `aws ${c.accessKeyId.name} ${c.secretAccessKey.name} ${c.sessionToken?.name ?? ''}`;
    case 'github_app':
      return `github ${c.apiUrl.href} ${c.appId} ${c.installationId} ${c.privateKey.name}`;
  }
}

/** The values of a scheme's static secrets that are at hand now (a placeholder must differ from them). */
function schemeValuesNow(c: NonNullable<ParsedInject['credential']>): string[] {
  const sources = c.kind === 'bearer' ? [c.token] : c.kind === 'basic' ? [c.password] : c.kind === 'aws_sigv4' ? [c.accessKeyId, c.secretAccessKey] : [];
  return sources.flatMap((s) => {
    const now = valueNow(s);
    return now?.ok ? [now.value.reveal()] : [];
  });
}
