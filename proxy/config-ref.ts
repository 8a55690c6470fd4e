// The policy in force. SIGHUP swaps `current` for a newly validated policy; every decision reads
// it afresh, so connections in progress keep working and the next request sees the new rules.
import type { Config } from '../policies/types.ts';

export interface ConfigRef {
  current: Config;
}
