// How many serving processes `airlock start` runs: --workers, else the policy's `workers:`, else
// one per core this process may use (os.availableParallelism honours CPU affinity, e.g. taskset).
import os from 'node:os';
import { MAX_WORKERS } from '../../policies/parse.ts';
import { UsageError } from '../flow-filter.ts';

export function workerCount(flag: string | undefined, policy: number | 'auto'): number {
  if (flag !== undefined) {
    if (flag === 'auto') return autoCount();
    const n = Number(flag);
    if (!/^\d+$/.test(flag) || n < 1 || n > MAX_WORKERS) throw new UsageError(`--workers: expected auto or a whole number from 1 to ${MAX_WORKERS}, not ${JSON.stringify(flag)}`);
    return n;
  }
  return policy === 'auto' ? autoCount() : policy;
}

function autoCount(): number {
  return Math.min(MAX_WORKERS, Math.max(1, os.availableParallelism()));
}
