// The web UI's token (made once, stored as a sha256 hash, mode 0600) and `listen.ui` in the policy.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../policies/parse.ts';
import { ensureUiToken, TOKEN_FILE } from '../../web-ui/token.ts';
import { tempDir } from '../helpers/airlock.ts';

describe('ensureUiToken', () => {
  it('makes a 32-byte base64url token once, keeps only its sha256 (0600), and never shows it again', () => {
    const dir = path.join(tempDir(), 'data');
    const first = ensureUiToken(dir);
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(first.token!, 'base64url')).toHaveLength(32);
    const file = path.join(dir, TOKEN_FILE);
    expect(fs.readFileSync(file, 'utf8').trim()).toBe(crypto.createHash('sha256').update(first.token!).digest('hex'));
    expect(first.hash).toBe(fs.readFileSync(file, 'utf8').trim());
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8')).not.toContain(first.token!);

    const again = ensureUiToken(dir);
    expect(again).toEqual({ token: undefined, hash: first.hash });
  });

  it('refuses a token file that does not hold a sha256 digest', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, TOKEN_FILE), 'not a hash\n');
    expect(() => ensureUiToken(dir)).toThrow(/sha256/);
  });
});

describe('listen.ui', () => {
  const opts = { baseDir: '/tmp', env: {}, defaultDataDir: '/tmp/airlock-default' };

  it('is parsed like listen.admin', () => {
    const r = parsePolicy({ listen: { proxy: '127.0.0.1:8080', ui: '127.0.0.1:9091' } }, opts);
    expect(r.ok && r.config.listen.ui).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 9091 });
    const u = parsePolicy({ listen: { proxy: '127.0.0.1:8080', ui: 'unix:/run/airlock/ui.sock' } }, opts);
    expect(u.ok && u.config.listen.ui).toEqual({ kind: 'unix', path: '/run/airlock/ui.sock' });
  });

  it('reports a bad address and a clash with another listener', () => {
    const r = parsePolicy({ listen: { proxy: '127.0.0.1:8080', admin: '127.0.0.1:9090', ui: '127.0.0.1:9090' } }, opts);
    expect(r.ok ? [] : r.errors).toContain('listen.ui: 127.0.0.1:9090 is already used by listen.admin');
    const bad = parsePolicy({ listen: { proxy: '127.0.0.1:8080', ui: 'nowhere' } }, opts);
    expect(bad.ok ? [] : bad.errors.join('\n')).toMatch(/^listen\.ui: /m);
  });
});
