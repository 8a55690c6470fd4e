// A host rule's `inject`: static headers, and at most one credential scheme (bearer, basic,
// oauth2, aws_sigv4, github_app). Secrets are opened (env/file read) at load; problems carry paths.
import { createPrivateKey } from 'node:crypto';
import { parseSource, type SourceContext } from './parse-secret.ts';
import { checkKeys, join, mapping, optList, present, readString, type Fields, type Problems } from './problems.ts';
import { headerSafe, type SecretSource, valueNow } from './secrets.ts';
import type { CredentialScheme, InjectedHeader } from './types.ts';
import { parseSize } from './units.ts';

export const SCHEMES = ['bearer', 'basic', 'oauth2', 'aws_sigv4', 'github_app'] as const;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Framing and routing headers belong to the proxy; injecting them would corrupt or redirect requests.
const NOT_INJECTABLE = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive', 'proxy-connection']);
/** What AWS SigV4 signing sets: a static header of the same name would be overwritten or unsigned. */
const SIGNED_BY_AWS = /^(authorization|x-amz-.*)$/;
const AWS_NAME = /^[a-z0-9-]{1,64}$/;
const MAX_SIGNED_BODY = 1024 * 1024;

export interface ParsedInject {
  headers: InjectedHeader[];
  credential?: CredentialScheme;
  /** Sources named by `headers` (resolvable or not): decides what a placeholder stands for. */
  headerSources: Set<string>;
  /** A scheme is written (even one with problems): placeholders are the scheme's. */
  schemeNamed: boolean;
}

export function parseInject(fields: Fields, path: string, ctx: SourceContext): ParsedInject {
  const { p } = ctx;
  const out: ParsedInject = { headers: [], headerSources: new Set(), schemeNamed: false };
  if (!present(fields, 'inject')) return out;
  const injectPath = join(path, 'inject');
  const inject = mapping(fields.get('inject'), injectPath, p);
  if (!inject) return out;
  checkKeys(inject, ['headers', ...SCHEMES], injectPath, p);
  const schemes = SCHEMES.filter((s) => present(inject, s));
  out.schemeNamed = schemes.length > 0;
  for (const extra of schemes.slice(1)) p.add(join(injectPath, extra), `a rule has at most one credential scheme (it already has ${schemes[0]})`);
  if (schemes[0]) out.credential = parseScheme(schemes[0], inject.get(schemes[0]), join(injectPath, schemes[0]), ctx);
  if (present(inject, 'headers')) parseHeaders(inject.get('headers'), join(injectPath, 'headers'), ctx, out, schemes[0]);
  return out;
}

function parseHeaders(raw: unknown, headersPath: string, ctx: SourceContext, out: ParsedInject, scheme: string | undefined): void {
  const { p } = ctx;
  const headers = mapping(raw, headersPath, p);
  if (!headers) return;
  const seen = new Set<string>();
  for (const [rawName, source] of headers) {
    const headerPath = join(headersPath, rawName);
    const name = rawName.toLowerCase();
    if (!TOKEN.test(rawName)) p.add(headerPath, 'not a valid HTTP header name');
    else if (NOT_INJECTABLE.has(name)) p.add(headerPath, `"${name}" is set by the proxy and cannot be injected`);
    else if (seen.has(name)) p.add(headerPath, 'duplicate header name (header names are case-insensitive)');
    else if (scheme === 'aws_sigv4' && SIGNED_BY_AWS.test(name)) p.add(headerPath, `"${name}" is set by the rule's aws_sigv4 signing`);
    else if (scheme && name === 'authorization') p.add(headerPath, `"authorization" is set by the rule's ${scheme}`);
    seen.add(name);
    if (typeof source === 'string') out.headerSources.add(source.trim());
    const secret = headerSource(source, headerPath, ctx);
    if (secret) out.headers.push({ name, secret });
  }
}

/** A source whose value goes into a header: checked for line breaks now when it is at hand. */
function headerSource(raw: unknown, path: string, ctx: SourceContext): SecretSource | undefined {
  const source = parseSource(raw, path, ctx);
  if (!source) return undefined;
  const now = valueNow(source);
  const safe = now?.ok ? headerSafe(now.value) : undefined;
  if (safe && !safe.ok) {
    ctx.p.add(path, safe.problem);
    return undefined;
  }
  return source;
}

function parseScheme(kind: (typeof SCHEMES)[number], raw: unknown, path: string, ctx: SourceContext): CredentialScheme | undefined {
  if (kind === 'bearer') {
    const token = headerSource(raw, path, ctx);
    return token && { kind, token };
  }
  const fields = mapping(raw, path, ctx.p);
  if (!fields) return undefined;
  const before = ctx.p.list.length;
  const scheme = SCHEME_PARSERS[kind](fields, path, ctx);
  return ctx.p.list.length === before ? scheme : undefined;
}

type SchemeParser = (fields: Fields, path: string, ctx: SourceContext) => CredentialScheme | undefined;

const SCHEME_PARSERS: Record<Exclude<(typeof SCHEMES)[number], 'bearer'>, SchemeParser> = {
  basic(fields, path, ctx) {
    checkKeys(fields, ['user', 'password'], path, ctx.p);
    const user = required(fields, 'user', path, ctx.p, (v, at) => {
      if (typeof v === 'string' && /^[\x20-\x39\x3b-\x7e]+$/.test(v)) return v;
      ctx.p.add(at, 'expected printable ASCII without ":"');
      return undefined;
    });
    const password = required(fields, 'password', path, ctx.p, (v, at) => headerSource(v, at, ctx));
    return user !== undefined && password ? { kind: 'basic', user, password } : undefined;
  },

  oauth2(fields, path, ctx) {
    const { p } = ctx;
    checkKeys(fields, ['token_url', 'client_id', 'client_secret', 'scopes', 'audience', 'client_auth'], path, p);
    const tokenUrl = required(fields, 'token_url', path, p, (v, at) => httpUrl(v, at, p));
    const clientId = required(fields, 'client_id', path, p, (v, at) => printable(v, at, p));
    const clientSecret = required(fields, 'client_secret', path, p, (v, at) => parseSource(v, at, ctx));
    const scopes = (optList(fields, 'scopes', path, p) ?? []).flatMap((s, i) => {
      const at = `${path}.scopes[${i}]`;
      if (typeof s === 'string' && /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s)) return [s];
      p.add(at, 'expected a scope token (printable ASCII without spaces, quotes or backslashes)');
      return [];
    });
    const audience = present(fields, 'audience') ? printable(fields.get('audience'), join(path, 'audience'), p) : undefined;
    const clientAuth = oneOf(fields, 'client_auth', path, p, ['basic', 'body'] as const, 'basic');
    if (!tokenUrl || clientId === undefined || !clientSecret) return undefined;
    return { kind: 'oauth2', tokenUrl, clientId, clientSecret, scopes, ...(audience ? { audience } : {}), clientAuth };
  },

  aws_sigv4(fields, path, ctx) {
    const { p } = ctx;
    checkKeys(fields, ['access_key_id', 'secret_access_key', 'session_token', 'region', 'service', 'max_signed_body'], path, p);
    const accessKeyId = required(fields, 'access_key_id', path, p, (v, at) => headerSource(v, at, ctx));
    const secretAccessKey = required(fields, 'secret_access_key', path, p, (v, at) => parseSource(v, at, ctx));
    const sessionToken = present(fields, 'session_token') ? headerSource(fields.get('session_token'), join(path, 'session_token'), ctx) : undefined;
    const name = (v: unknown, at: string) => {
      if (typeof v === 'string' && AWS_NAME.test(v)) return v;
      p.add(at, 'expected a lower-case AWS name like "us-east-1" or "s3"');
      return undefined;
    };
    const region = required(fields, 'region', path, p, name);
    const service = required(fields, 'service', path, p, name);
    let maxSignedBody = MAX_SIGNED_BODY;
    if (present(fields, 'max_signed_body')) {
      const s = parseSize(fields.get('max_signed_body'));
      if (!s.ok) p.add(join(path, 'max_signed_body'), s.problem);
      else maxSignedBody = s.bytes;
    }
    if (!accessKeyId || !secretAccessKey || !region || !service) return undefined;
    return { kind: 'aws_sigv4', accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}), region, service, maxSignedBody };
  },

  github_app(fields, path, ctx) {
    const { p } = ctx;
    checkKeys(fields, ['app_id', 'installation_id', 'private_key', 'api_url', 'as', 'permissions', 'repositories'], path, p);
    const id = (v: unknown, at: string) => {
      if ((typeof v === 'number' && Number.isSafeInteger(v) && v > 0) || (typeof v === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(v))) return String(v);
      p.add(at, 'expected a number or an id like "Iv1.0123abcd"');
      return undefined;
    };
    const appId = required(fields, 'app_id', path, p, id);
    const installationId = required(fields, 'installation_id', path, p, (v, at) => {
      if ((typeof v === 'number' && Number.isSafeInteger(v) && v > 0) || (typeof v === 'string' && /^[0-9]{1,20}$/.test(v))) return String(v);
      p.add(at, 'expected a number');
      return undefined;
    });
    const privateKey = required(fields, 'private_key', path, p, (v, at) => rsaKey(v, at, ctx));
    const apiUrl = present(fields, 'api_url') ? httpUrl(fields.get('api_url'), join(path, 'api_url'), p) : new URL('https://api.github.com');
    const as = oneOf(fields, 'as', path, p, ['auto', 'basic', 'bearer'] as const, 'auto');
    let permissions: Record<string, string> | undefined;
    if (present(fields, 'permissions')) {
      const m = mapping(fields.get('permissions'), join(path, 'permissions'), p);
      permissions = {};
      for (const [k, v] of m ?? []) {
        if (/^[a-z_]{1,64}$/.test(k) && (v === 'read' || v === 'write' || v === 'admin')) permissions[k] = v;
        else p.add(join(join(path, 'permissions'), k), 'expected a permission name with read, write or admin');
      }
    }
    const repositories = optList(fields, 'repositories', path, p)?.flatMap((r, i) => {
      if (typeof r === 'string' && /^[A-Za-z0-9._-]{1,100}$/.test(r)) return [r];
      p.add(`${path}.repositories[${i}]`, 'expected a repository name (without the owner)');
      return [];
    });
    if (!appId || !installationId || !privateKey || !apiUrl) return undefined;
    return { kind: 'github_app', appId, installationId, privateKey, apiUrl, as, ...(permissions ? { permissions } : {}), ...(repositories ? { repositories } : {}) };
  },
};

function required<T>(fields: Fields, key: string, path: string, p: Problems, read: (v: unknown, at: string) => T | undefined): T | undefined {
  const at = join(path, key);
  if (!present(fields, key)) {
    p.add(at, 'required');
    return undefined;
  }
  return read(fields.get(key), at);
}

function printable(v: unknown, at: string, p: Problems): string | undefined {
  const s = readString(v, at, p);
  if (s !== undefined && !/^[\x20-\x7e]+$/.test(s)) {
    p.add(at, 'expected printable ASCII');
    return undefined;
  }
  return s;
}

function httpUrl(v: unknown, at: string, p: Problems): URL | undefined {
  const s = readString(v, at, p);
  if (s === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    p.add(at, 'expected an http(s) URL');
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.hash) {
    p.add(at, 'expected an http(s) URL without credentials or #fragment');
    return undefined;
  }
  return url;
}

function oneOf<const T extends readonly string[]>(fields: Fields, key: string, path: string, p: Problems, allowed: T, fallback: T[number]): T[number] {
  if (!present(fields, key)) return fallback;
  const v = fields.get(key);
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T[number];
  p.add(join(path, key), `expected one of ${allowed.join(', ')}`);
  return fallback;
}

/** A GitHub App key: an RSA private key in PEM, checked now when it is at hand. Problems never quote it. */
function rsaKey(v: unknown, at: string, ctx: SourceContext): SecretSource | undefined {
  const source = parseSource(v, at, ctx);
  if (!source) return undefined;
  const now = valueNow(source);
  if (now?.ok) {
    const problem = rsaProblem(now.value.reveal());
    if (problem) {
      ctx.p.add(at, `${source.name}: ${problem}`);
      return undefined;
    }
  }
  return source;
}

export function rsaProblem(pem: string): string | undefined {
  try {
    const key = createPrivateKey(pem);
    return key.asymmetricKeyType === 'rsa' ? undefined : `not an RSA key (${key.asymmetricKeyType})`;
  } catch {
    return 'not a PEM private key';
  }
}
