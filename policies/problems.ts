// Collects every problem in a policy as "path: problem", and the small typed
// readers the parser uses so each wrong type is reported the same way.

export class Problems {
  readonly list: string[] = [];
  add(path: string, problem: string): void {
    this.list.push(`${path}: ${problem}`);
  }
}

/** A YAML mapping's entries. A Map, so keys like "constructor" cannot reach Object.prototype. */
export type Fields = Map<string, unknown>;

export function join(path: string, key: string): string {
  // An empty key, or one with a control character or any of :"[], is quoted so every problem still reads "path: problem".
  const k = key === '' || /[\x00-\x1f\x7f:"[\]]/.test(key) ? JSON.stringify(key) : key;
  return path === '' ? k : `${path}.${k}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Map);
}

export function mapping(value: unknown, path: string, p: Problems): Fields | null {
  if (!isPlainObject(value)) {
    p.add(path, 'expected a mapping');
    return null;
  }
  return new Map(Object.entries(value));
}

/** A key written with no value ("ports:") means the same as leaving it out. */
export function present(fields: Fields, key: string): boolean {
  return fields.get(key) !== null && fields.get(key) !== undefined;
}

/** Optimal string alignment distance: a swapped pair of letters ("mathc") counts as one edit. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

export function suggest(key: string, allowed: readonly string[]): string | undefined {
  const typed = key.toLowerCase().replace(/-/g, '_');
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(typed.length / 3)) + 1;
  for (const candidate of allowed) {
    const distance = editDistance(typed, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

export function checkKeys(fields: Fields, allowed: readonly string[], path: string, p: Problems): void {
  for (const key of fields.keys()) {
    if (allowed.includes(key)) continue;
    const guess = suggest(key, allowed);
    p.add(join(path, key), guess ? `unknown key (did you mean "${guess}"?)` : 'unknown key');
  }
}

export function readString(value: unknown, path: string, p: Problems): string | undefined {
  if (typeof value !== 'string') {
    p.add(path, 'expected a string');
    return undefined;
  }
  if (value.trim() === '') {
    p.add(path, 'must not be empty');
    return undefined;
  }
  return value;
}

export function optString(fields: Fields, key: string, path: string, p: Problems): string | undefined {
  return present(fields, key) ? readString(fields.get(key), join(path, key), p) : undefined;
}

export function optBool(fields: Fields, key: string, path: string, p: Problems, fallback: boolean): boolean {
  if (!present(fields, key)) return fallback;
  const value = fields.get(key);
  if (typeof value === 'boolean') return value;
  p.add(join(path, key), 'expected true or false');
  return fallback;
}

export function optInt(fields: Fields, key: string, path: string, p: Problems, fallback: number, min: number): number {
  if (!present(fields, key)) return fallback;
  const value = fields.get(key);
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min) return value;
  p.add(join(path, key), `expected a whole number of at least ${min}`);
  return fallback;
}

/** A list, or undefined when absent. An empty list is refused: omitting the key is how to say "any". */
export function optList(fields: Fields, key: string, path: string, p: Problems, allowEmpty = false): unknown[] | undefined {
  if (!present(fields, key)) return undefined;
  const value = fields.get(key);
  if (!Array.isArray(value)) {
    p.add(join(path, key), 'expected a list');
    return undefined;
  }
  if (value.length === 0 && !allowEmpty) {
    p.add(join(path, key), 'must not be empty; leave the key out instead');
    return undefined;
  }
  return value;
}
