// The policy's `store:` section: where the flow store is, what it keeps (body prefixes,
// retention), and what airlock does when it cannot write (on_unavailable, min_free).
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { openSecretSource, Secret, valueNow } from './secrets.ts';
import { parseDuration, parseSize } from './units.ts';
import { Problems, checkKeys, mapping, optInt, optString, present, type Fields } from './problems.ts';
import type { Config } from './types.ts';

/** Retention below these would delete flows faster than anyone could look at them. */
const MIN_AGE_MS = 60_000;
const MIN_BYTES = 1024 * 1024;
const ON_UNAVAILABLE = ['refuse', 'serve'] as const;

/** Where secrets (the PostgreSQL URL) and env: values are read from. */
export interface StoreParseContext {
  env: NodeJS.ProcessEnv;
  baseDir: string;
}

const INSTANCE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;
const DEFAULT_SPOOL_BYTES = 1024 ** 3;

export function parseStore(fields: Fields, dataDir: string, p: Problems, ctx: StoreParseContext = { env: process.env, baseDir: dataDir }): Config['store'] {
  checkKeys(fields, ['path', 'body_cap_bytes', 'retention', 'on_unavailable', 'min_free', 'instance', 'postgres'], 'store', p);
  const postgres = parsePostgres(fields.get('postgres'), dataDir, p, ctx);
  const retention = parseRetention(fields.get('retention'), p);
  if (postgres && retention.maxBytes !== undefined) {
    p.add('store.retention.max_bytes', 'not with store.postgres: PostgreSQL does not give deleted rows\' space back by itself, so a size cannot be kept; use max_age');
  }
  return {
    path: resolve(dataDir, optString(fields, 'path', 'store', p) ?? 'flows.sqlite'),
    instance: parseInstance(fields, p, ctx.env),
    ...(postgres ? { postgres } : {}),
    bodyCapBytes: optInt(fields, 'body_cap_bytes', 'store', p, 1024 * 1024, 0),
    retention,
    onUnavailable: parseOnUnavailable(fields, p),
    minFree: parseMinFree(fields, p),
  };
}

/** store.instance: a name, or env:NAME (a pod's name); default: this machine's host name. */
function parseInstance(fields: Fields, p: Problems, env: NodeJS.ProcessEnv): string {
  const fallback = hostname().slice(0, 128) || 'airlock';
  if (!present(fields, 'instance')) return INSTANCE.test(fallback) ? fallback : 'airlock';
  const raw = fields.get('instance');
  if (typeof raw !== 'string') {
    p.add('store.instance', 'expected a name (letters, digits, ".", "_", "-", ":") or env:NAME');
    return fallback;
  }
  let name = raw;
  if (raw.startsWith('env:')) {
    const v = env[raw.slice(4)];
    if (v === undefined || v === '') {
      p.add('store.instance', `environment variable ${raw.slice(4)} is not set`);
      return fallback;
    }
    name = v;
  }
  if (!INSTANCE.test(name)) {
    p.add('store.instance', `${JSON.stringify(name)} is not a name of up to 128 letters, digits, ".", "_", "-" and ":" (starting with a letter or digit)`);
    return fallback;
  }
  return name;
}

/**
 * store.postgres: the PostgreSQL store instead of the SQLite file. `url` is a secret source
 * (env:NAME, file:PATH) or a URL without a password; TLS is either off (sslmode absent or
 * disable) or verified (sslmode=verify-full).
 */
function parsePostgres(value: unknown, dataDir: string, p: Problems, ctx: StoreParseContext): NonNullable<Config['store']['postgres']> | undefined {
  if (value === null || value === undefined) return undefined;
  const fields = mapping(value, 'store.postgres', p);
  if (!fields) return undefined;
  checkKeys(fields, ['url', 'schema', 'pool', 'spool'], 'store.postgres', p);
  let url: Secret | undefined;
  const raw = fields.get('url');
  if (typeof raw !== 'string' || raw === '') p.add('store.postgres.url', 'expected env:NAME, file:PATH, or a postgres:// URL without a password');
  else if (/^postgres(ql)?:\/\//i.test(raw)) {
    const u = parsePgUrl(raw);
    if (typeof u === 'string') p.add('store.postgres.url', u);
    else if (u.password) p.add('store.postgres.url', 'has a password: keep the URL in a secret (env:NAME or file:PATH), not in the policy');
    else url = new Secret('postgres-url', raw);
  } else {
    // Read once, at load (a reload reads it again): exec: is not offered for a URL.
    const opened = raw.startsWith('exec:') ? ({ ok: false, problem: 'expected env:NAME, file:PATH, or a postgres:// URL without a password' } as const) : openSecretSource(raw, ctx.env, ctx.baseDir);
    const r = opened.ok ? valueNow(opened.value) : opened;
    if (!r || !r.ok) p.add('store.postgres.url', r ? r.problem : `${raw} has no value`);
    else {
      const u = parsePgUrl(r.value.reveal());
      // The problem names the source, never the URL (it holds a password).
      if (typeof u === 'string') p.add('store.postgres.url', `${raw}: ${u}`);
      else url = r.value;
    }
  }
  const schema = optString(fields, 'schema', 'store.postgres', p) ?? 'airlock';
  if (!SCHEMA.test(schema)) p.add('store.postgres.schema', `${JSON.stringify(schema)} is not a lower-case name (letters, digits, "_")`);
  const pool = optInt(fields, 'pool', 'store.postgres', p, 4, 1);
  const spool = parseSpool(fields.get('spool'), dataDir, p);
  return url ? { url, schema, pool, spool } : undefined;
}

/** A problem with a postgres:// URL (never quoting it), or its parts. */
function parsePgUrl(text: string): { password: boolean } | string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return 'is not a URL (postgres://user@host:5432/database)';
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') return 'is not a postgres:// URL';
  if (!u.hostname && !u.searchParams.get('host')) return 'names no host';
  const mode = u.searchParams.get('sslmode');
  if (mode !== null && mode !== 'disable' && mode !== 'verify-full') {
    return `sslmode=${mode} does not verify the server: use sslmode=verify-full (with sslrootcert=/path/to/ca.pem for a private CA), or leave TLS off`;
  }
  if (u.searchParams.has('uselibpqcompat')) return 'uselibpqcompat is not supported: use sslmode=verify-full';
  return { password: u.password !== '' };
}

function parseSpool(value: unknown, dataDir: string, p: Problems): { path: string; maxBytes: number } {
  const fallback = { path: resolve(dataDir, 'pg-spool.sqlite'), maxBytes: DEFAULT_SPOOL_BYTES };
  if (value === null || value === undefined) return fallback;
  const fields = mapping(value, 'store.postgres.spool', p);
  if (!fields) return fallback;
  checkKeys(fields, ['path', 'max_bytes'], 'store.postgres.spool', p);
  const out = { path: resolve(dataDir, optString(fields, 'path', 'store.postgres.spool', p) ?? 'pg-spool.sqlite'), maxBytes: DEFAULT_SPOOL_BYTES };
  if (present(fields, 'max_bytes')) {
    const s = parseSize(fields.get('max_bytes'));
    if (!s.ok) p.add('store.postgres.spool.max_bytes', s.problem);
    else if (s.bytes < MIN_BYTES) p.add('store.postgres.spool.max_bytes', `${String(fields.get('max_bytes'))} is smaller than the minimum of 1MiB`);
    else out.maxBytes = s.bytes;
  }
  return out;
}

function parseOnUnavailable(fields: Fields, p: Problems): Config['store']['onUnavailable'] {
  if (!present(fields, 'on_unavailable')) return 'refuse';
  const v = fields.get('on_unavailable');
  if (typeof v === 'string' && (ON_UNAVAILABLE as readonly string[]).includes(v)) return v as Config['store']['onUnavailable'];
  p.add('store.on_unavailable', `expected "refuse" (answer 503 until the store writes again) or "serve" (serve unrecorded), not ${JSON.stringify(v)}`);
  return 'refuse';
}

/** "2GiB", 0, or "10%" of the file system; absent: 1 GiB or 5 %, whichever is smaller (proxy/store/space.cjs). */
function parseMinFree(fields: Fields, p: Problems): Config['store']['minFree'] {
  if (!present(fields, 'min_free')) return {};
  const raw = fields.get('min_free');
  if (typeof raw === 'string' && raw.trim().endsWith('%')) {
    const percent = Number(raw.trim().slice(0, -1));
    if (raw.trim() === '%' || !Number.isFinite(percent) || percent < 0 || percent >= 100) {
      p.add('store.min_free', `${raw} is not a share of the file system from 0% to under 100%`);
      return {};
    }
    return { percent };
  }
  const s = parseSize(raw);
  if (!s.ok) {
    p.add('store.min_free', `${s.problem}, or a share of the file system like "5%"`);
    return {};
  }
  return { bytes: s.bytes };
}

function parseRetention(value: unknown, p: Problems): Config['store']['retention'] {
  if (value === null || value === undefined) return {};
  const fields = mapping(value, 'store.retention', p);
  if (!fields) return {};
  checkKeys(fields, ['max_age', 'max_bytes'], 'store.retention', p);
  const retention: Config['store']['retention'] = {};
  if (present(fields, 'max_age')) {
    const raw = fields.get('max_age');
    const d = parseDuration(raw);
    if (!d.ok) p.add('store.retention.max_age', d.problem);
    else if (d.ms < MIN_AGE_MS) p.add('store.retention.max_age', `${String(raw)} is shorter than the minimum of 1m`);
    else retention.maxAgeMs = d.ms;
  }
  if (present(fields, 'max_bytes')) {
    const raw = fields.get('max_bytes');
    const s = parseSize(raw);
    if (!s.ok) p.add('store.retention.max_bytes', s.problem);
    else if (s.bytes < MIN_BYTES) p.add('store.retention.max_bytes', `${String(raw)} is smaller than the minimum of 1MiB`);
    else retention.maxBytes = s.bytes;
  }
  return retention;
}
