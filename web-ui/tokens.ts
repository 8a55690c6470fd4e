// Who may use the web UI: the first-start token (DATA_DIR/ui-token.sha256, role admin, name
// "initial") and tokens added with `airlock ui token add` (DATA_DIR/ui-tokens.json). Only sha256
// digests are stored. Both files are re-read when they change, so a token added or revoked while
// airlock runs counts at once (a revoked token's sessions end on their next request).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { hashToken, TOKEN_FILE } from './token.ts';

export const TOKENS_FILE = 'ui-tokens.json';
export const ROLES = ['auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];
/** The name of the first-start token. */
export const INITIAL = 'initial';
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export interface TokenEntry {
  name: string;
  role: Role;
  /** sha256 hex of the token. */
  sha256: string;
  /** ISO time it was made (null for the first-start token: the file's mtime is its only record). */
  created: string | null;
}

interface FileShape {
  tokens: TokenEntry[];
}

/** A file's identity: unchanged identity, unchanged content (writes go through rename). */
function stamp(file: string): string | null {
  try {
    const s = fs.statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export function readTokensFile(dataDir: string): TokenEntry[] {
  const file = path.join(dataDir, TOKENS_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const doc = JSON.parse(text) as Partial<FileShape>;
  if (!doc || !Array.isArray(doc.tokens)) throw new Error(`${file}: expected {"tokens": [...]}`);
  return doc.tokens.filter(
    (t): t is TokenEntry =>
      typeof t === 'object' && t !== null && NAME.test(t.name) && (ROLES as readonly string[]).includes(t.role) && /^[0-9a-f]{64}$/.test(t.sha256),
  );
}

function readInitial(dataDir: string): string | undefined {
  try {
    const h = fs.readFileSync(path.join(dataDir, TOKEN_FILE), 'utf8').trim();
    return /^[0-9a-f]{64}$/.test(h) ? h : undefined;
  } catch {
    return undefined;
  }
}

/** The tokens in force, re-read when either file changes (a stat per call). */
export class UiTokens {
  private key = '';
  private entries: TokenEntry[] = [];

  constructor(private readonly dataDir: string) {}

  list(): TokenEntry[] {
    const key = `${stamp(path.join(this.dataDir, TOKEN_FILE))}|${stamp(path.join(this.dataDir, TOKENS_FILE))}`;
    if (key !== this.key) {
      const initial = readInitial(this.dataDir);
      let added: TokenEntry[];
      try {
        added = readTokensFile(this.dataDir);
      } catch (e) {
        // A broken file grants nothing, and says why where the operator looks.
        process.stderr.write(`airlock: ignoring ${TOKENS_FILE}: ${(e as Error).message}\n`);
        added = [];
      }
      this.entries = [...(initial ? [{ name: INITIAL, role: 'admin' as const, sha256: initial, created: null }] : []), ...added.filter((t) => t.name !== INITIAL)];
      this.key = key;
    }
    return this.entries;
  }

  /** The entry whose token this is; every entry is compared (no early exit), each in constant time. */
  verify(token: string): TokenEntry | undefined {
    const given = Buffer.from(hashToken(token), 'hex');
    let found: TokenEntry | undefined;
    for (const t of this.list()) {
      if (crypto.timingSafeEqual(given, Buffer.from(t.sha256, 'hex')) && !found) found = t;
    }
    return found;
  }

  /** The entry with this digest, if it is still in force (sessions check this on every request). */
  byHash(sha256: string): TokenEntry | undefined {
    return this.list().find((t) => t.sha256 === sha256);
  }
}

function writeTokensFile(dataDir: string, tokens: TokenEntry[]): void {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, TOKENS_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify({ tokens }, null, 2) + '\n', { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

/** Makes a token (32 random bytes, base64url) and stores its digest. The token is returned once. */
export function addToken(dataDir: string, name: string, role: Role): { token: string; entry: TokenEntry } {
  if (!NAME.test(name)) throw new Error(`token name "${name}" must be 1-64 of a-z, 0-9, ".", "_", "-" (starting with a letter or digit)`);
  if (name === INITIAL) throw new Error(`"${INITIAL}" is the first-start token's name`);
  if (!(ROLES as readonly string[]).includes(role)) throw new Error(`role must be ${ROLES.join(' or ')}`);
  const tokens = readTokensFile(dataDir);
  if (tokens.some((t) => t.name === name)) throw new Error(`a token named "${name}" exists; revoke it first`);
  const token = crypto.randomBytes(32).toString('base64url');
  const entry: TokenEntry = { name, role, sha256: hashToken(token), created: new Date().toISOString() };
  writeTokensFile(dataDir, [...tokens, entry]);
  return { token, entry };
}

/** Removes a token; "initial" removes the first-start token (the next start makes and prints a new one). */
export function revokeToken(dataDir: string, name: string): boolean {
  if (name === INITIAL) {
    try {
      fs.unlinkSync(path.join(dataDir, TOKEN_FILE));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }
  const tokens = readTokensFile(dataDir);
  const left = tokens.filter((t) => t.name !== name);
  if (left.length === tokens.length) return false;
  writeTokensFile(dataDir, left);
  return true;
}
