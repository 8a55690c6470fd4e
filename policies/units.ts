// Durations and sizes as written in a policy ("90m", "500MiB"): shared by every section that takes them.

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const SIZE_UNITS: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/** "90m", "12h", "30d", "2w", "45s" -> milliseconds; a problem text otherwise. */
export function parseDuration(value: unknown): { ok: true; ms: number } | { ok: false; problem: string } {
  const form = 'expected a duration like "90m", "12h", "30d" (units s, m, h, d, w)';
  if (typeof value !== 'string') return { ok: false, problem: form };
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(value.trim());
  if (!m) return { ok: false, problem: form };
  const ms = Number(m[1]) * DURATION_UNITS[m[2]];
  if (!Number.isSafeInteger(Math.round(ms))) return { ok: false, problem: `${value} is too long` };
  return { ok: true, ms: Math.round(ms) };
}

/** "500MiB", "10GiB", "2GB", "1e9", 1000000000 -> bytes; a problem text otherwise. */
export function parseSize(value: unknown): { ok: true; bytes: number } | { ok: false; problem: string } {
  const form = 'expected a size like "500MiB", "10GiB", "2GB" or a number of bytes';
  let bytes: number;
  if (typeof value === 'number') bytes = value;
  else if (typeof value === 'string') {
    const m = /^(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmgt]i?b|b)?$/i.exec(value.trim());
    if (!m) return { ok: false, problem: form };
    bytes = Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()];
  } else return { ok: false, problem: form };
  if (!Number.isFinite(bytes) || bytes < 0) return { ok: false, problem: form };
  bytes = Math.floor(bytes);
  if (!Number.isSafeInteger(bytes)) return { ok: false, problem: `${String(value)} is too large` };
  return { ok: true, bytes };
}
