// The policy's `store:` section: where the flow store is, what it keeps (body prefixes,
// retention), and what airlock does when it cannot write (on_unavailable, min_free).
import { resolve } from 'node:path';
import { parseDuration, parseSize } from './units.ts';
import { Problems, checkKeys, mapping, optInt, optString, present, type Fields } from './problems.ts';
import type { Config } from './types.ts';

/** Retention below these would delete flows faster than anyone could look at them. */
const MIN_AGE_MS = 60_000;
const MIN_BYTES = 1024 * 1024;
const ON_UNAVAILABLE = ['refuse', 'serve'] as const;

export function parseStore(fields: Fields, dataDir: string, p: Problems): Config['store'] {
  checkKeys(fields, ['path', 'body_cap_bytes', 'retention', 'on_unavailable', 'min_free'], 'store', p);
  return {
    path: resolve(dataDir, optString(fields, 'path', 'store', p) ?? 'flows.sqlite'),
    bodyCapBytes: optInt(fields, 'body_cap_bytes', 'store', p, 1024 * 1024, 0),
    retention: parseRetention(fields.get('retention'), p),
    onUnavailable: parseOnUnavailable(fields, p),
    minFree: parseMinFree(fields, p),
  };
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
