// The policy in force. SIGHUP swaps `current` for a newly validated policy. Each request reads it
// once, as it arrives, and carries that Config to its end (pipeline.ts Admitted.config), so a
// reload never mixes two policies within one request; the next request sees the new rules.
import type { Config } from '../policies/types.ts';

export interface ConfigRef {
  current: Config;
}
