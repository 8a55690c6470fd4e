// How a finding is written to the store and the log: never the secret, only its masked preview.
import type { StoredFinding } from '../store/batch.ts';
import type { Finding } from './stream.ts';

/** `request body@65527 via json>base64`, `header:authorization@7`, `query@12 via url` */
export function findingLocation(f: Finding): string {
  return `${f.location}@${f.offset}${f.via ? ` via ${f.via}` : ''}`;
}

export function storedFinding(f: Finding): StoredFinding {
  return [f.ruleId, findingLocation(f), f.action, f.preview];
}
