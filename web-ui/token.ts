// The web UI's API token: 32 random bytes (base64url), made on first start and printed once.
// Only its sha256 is kept (DATA_DIR/ui-token.sha256, mode 0600), so the file alone never grants access.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const TOKEN_FILE = 'ui-token.sha256';

export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * The token's hash, creating a new token when there is none yet. `token` is set only when it was
 * just created (the one time it can be shown); afterwards only the hash exists.
 */
export function ensureUiToken(dataDir: string): { token: string | undefined; hash: string } {
  const file = path.join(dataDir, TOKEN_FILE);
  const existing = readHash(file);
  if (existing) return { token: undefined, hash: existing };
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = crypto.randomBytes(32).toString('base64url');
  const hash = hashToken(token);
  try {
    // wx: never overwrite a hash another process wrote in the meantime.
    fs.writeFileSync(file, hash + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const raced = readHash(file);
    if (raced) return { token: undefined, hash: raced };
    throw new Error(`${file} does not hold a sha256 hex digest; delete it to make a new token`);
  }
  fs.chmodSync(file, 0o600);
  return { token, hash };
}

function readHash(file: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`${file} does not hold a sha256 hex digest; delete it to make a new token`);
  return text;
}
