// The policy written at the first start without --config: the commented example
// (policies/default-policy.yaml) with store.retention.max_bytes set to half the free space of the
// data dir's file system, so a default install cannot fill its disk with flows.
import fs from 'node:fs';

/** Share of the free space at first start that the store may use. */
export const FIRST_START_SHARE = 0.5;
const MIN_BYTES = 1024 ** 2; // retention.max_bytes's minimum
const TEMPLATE_LINE = /^( {4}max_bytes: )10GiB$/m;

export function firstPolicy(template: string, dataDir: string, today = new Date()): string {
  const s = fs.statfsSync(dataDir);
  const free = s.bavail * s.bsize;
  const cap = Math.max(MIN_BYTES, Math.floor(free * FIRST_START_SHARE));
  const note = `# ${FIRST_START_SHARE * 100}% of the ${size(free)} free at first start (${today.toISOString().slice(0, 10)})`;
  if (!TEMPLATE_LINE.test(template)) throw new Error('policies/default-policy.yaml: the store.retention.max_bytes line is missing');
  return template.replace(TEMPLATE_LINE, `$1${size(cap)}   ${note}`);
}

/** Rounded down to whole GiB from 10 GiB on, else to whole MiB: a size parseSize reads back, never above n. */
function size(n: number): string {
  if (n >= 10 * 1024 ** 3) return `${Math.floor(n / 1024 ** 3)}GiB`;
  return `${Math.floor(n / 1024 ** 2)}MiB`;
}
