// Deep-freezes a parsed config so no code path can loosen the policy at run time.
// Secrets (and their sources, which cache what they read), Maps and URLs keep their own internals (freezing them breaks nothing but guarantees nothing).
import { Secret, SecretSource } from './secrets.ts';

export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Secret || value instanceof SecretSource || value instanceof Map || value instanceof URL) return value;
  if (Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
  return value;
}
