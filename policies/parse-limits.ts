// `limits`: what one agent may cost airlock before it is refused. Every key has a default that
// serves ordinary agents; an agent that hits one gets a clear refusal, and the hit is recorded.
import { parseDuration, parseSize } from './units.ts';
import { Problems, checkKeys, join, mapping, present, type Fields } from './problems.ts';
import type { Limits } from './types.ts';

export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxHeaderBytes: 32 * 1024,
  maxHeaders: 100,
  maxUrlBytes: 8 * 1024,
  headerTimeoutMs: 10_000,
  tlsHandshakeTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  bodyTimeoutMs: 60_000,
  // A 64 MiB upload at 512 kbit/s takes about 17.5 minutes.
  requestTimeoutMs: 30 * 60_000,
  minBodyRate: 1024,
  minBodyRateWindowMs: 10_000,
  maxChunkExtensionBytes: 16 * 1024,
  headersWithUnderscores: 'reject',
  maxConnectionsPerClient: 256,
  leafMintsPerMinute: 600,
  h2MaxConcurrentStreams: 100,
  maxWebsocketMessageBytes: 16 * 1024 * 1024,
});

type SizeKey = 'maxHeaderBytes' | 'maxUrlBytes' | 'maxWebsocketMessageBytes' | 'minBodyRate' | 'maxChunkExtensionBytes';
type TimeKey = 'headerTimeoutMs' | 'tlsHandshakeTimeoutMs' | 'idleTimeoutMs' | 'bodyTimeoutMs' | 'requestTimeoutMs' | 'minBodyRateWindowMs';
type CountKey = 'maxHeaders' | 'maxConnectionsPerClient' | 'leafMintsPerMinute' | 'h2MaxConcurrentStreams';

/** Keys that take one of a few words. */
const CHOICES = { headers_with_underscores: ['headersWithUnderscores', ['allow', 'drop', 'reject']] } as const;

/** key in the policy -> [field, kind, minimum, maximum]. Bounds keep a typo from disarming a limit. */
const KEYS: Record<string, [SizeKey, 'size', number, number] | [TimeKey, 'time', number, number] | [CountKey, 'count', number, number]> = {
  max_header_bytes: ['maxHeaderBytes', 'size', 1024, 1024 * 1024],
  max_headers: ['maxHeaders', 'count', 8, 10_000],
  max_url_bytes: ['maxUrlBytes', 'size', 256, 1024 * 1024],
  header_timeout: ['headerTimeoutMs', 'time', 1000, 600_000],
  tls_handshake_timeout: ['tlsHandshakeTimeoutMs', 'time', 1000, 600_000],
  idle_timeout: ['idleTimeoutMs', 'time', 1000, 86_400_000],
  body_timeout: ['bodyTimeoutMs', 'time', 1000, 86_400_000],
  request_timeout: ['requestTimeoutMs', 'time', 1000, 7 * 86_400_000],
  min_body_rate: ['minBodyRate', 'size', 0, 1024 * 1024 * 1024], // per second; 0 turns the check off
  min_body_rate_window: ['minBodyRateWindowMs', 'time', 1000, 600_000],
  max_chunk_extension_bytes: ['maxChunkExtensionBytes', 'size', 1024, 1024 * 1024 * 1024],
  max_connections_per_client: ['maxConnectionsPerClient', 'count', 1, 1_000_000],
  leaf_mints_per_minute: ['leafMintsPerMinute', 'count', 1, 1_000_000],
  h2_max_concurrent_streams: ['h2MaxConcurrentStreams', 'count', 1, 10_000],
  max_websocket_message_bytes: ['maxWebsocketMessageBytes', 'size', 1024, 1024 * 1024 * 1024],
};

export function parseLimits(value: unknown, p: Problems): Limits {
  if (value === null || value === undefined) return { ...DEFAULT_LIMITS };
  const fields: Fields | null = mapping(value, 'limits', p);
  const out: Limits = { ...DEFAULT_LIMITS };
  if (!fields) return out;
  checkKeys(fields, [...Object.keys(KEYS), ...Object.keys(CHOICES)], 'limits', p);
  for (const [key, [field, words]] of Object.entries(CHOICES)) {
    if (!present(fields, key)) continue;
    const raw = fields.get(key);
    if (typeof raw === 'string' && (words as readonly string[]).includes(raw)) out[field] = raw as Limits[typeof field];
    else p.add(join('limits', key), `expected one of ${words.join(', ')}`);
  }
  for (const [key, [field, kind, min, max]] of Object.entries(KEYS)) {
    if (!present(fields, key)) continue;
    const raw = fields.get(key);
    const path = join('limits', key);
    let n: number | undefined;
    if (kind === 'size') {
      const s = parseSize(raw);
      if (!s.ok) p.add(path, s.problem);
      else n = s.bytes;
    } else if (kind === 'time') {
      const d = parseDuration(raw);
      if (!d.ok) p.add(path, d.problem);
      else n = d.ms;
    } else if (typeof raw === 'number' && Number.isSafeInteger(raw)) n = raw;
    else p.add(path, 'expected a whole number');
    if (n === undefined) continue;
    if (n < min || n > max) {
      p.add(path, `${String(raw)} is out of range (${describe(kind, min)} to ${describe(kind, max)})`);
      continue;
    }
    out[field] = n;
  }
  return out;
}

function describe(kind: 'size' | 'time' | 'count', n: number): string {
  if (kind === 'time') return n % 60_000 === 0 && n >= 60_000 ? `${n / 60_000}m` : `${n / 1000}s`;
  if (kind === 'size') {
    for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) if (n > 0 && n % size === 0) return `${n / size}${unit}`;
    return `${n} bytes`;
  }
  return String(n);
}
