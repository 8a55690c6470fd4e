import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decideConnect } from '../../policies/decide.ts';
import { loadPolicyFile } from '../../policies/load.ts';

const DEFAULT = resolve('policies/default-policy.yaml');

describe('default-policy.yaml', () => {
  it('parses with zero errors and allows nothing', () => {
    const result = loadPolicyFile(DEFAULT, { env: {}, defaultDataDir: '/tmp/airlock' });
    expect(result).toMatchObject({ ok: true });
    if (!result.ok) return;
    expect(result.config.listen).toEqual({ proxy: { kind: 'tcp', host: '127.0.0.1', port: 8080 }, ui: { kind: 'tcp', host: '127.0.0.1', port: 8090 } });
    expect(result.config.hosts).toEqual([]);
    // Bounded (the first start writes half the free space here), refusing while it cannot write.
    expect(result.config.store).toMatchObject({ retention: { maxBytes: 10 * 1024 ** 3 }, onUnavailable: 'refuse', minFree: {} });
    expect(decideConnect(result.config, 'api.anthropic.com', 443)).toMatchObject({ allow: false, code: 'host_not_allowed' });
  });

  it('its commented examples are valid too once uncommented', () => {
    // Uncomment lines that hold YAML (keys, list items, nested comments), leave prose alone.
    const text = readFileSync(DEFAULT, 'utf8')
      .split('\n')
      .filter((line) => line !== 'hosts: []')
      .map((line) => {
        const m = /^(\s*)# (.*)$/.exec(line);
        return m && /^\s*(#|(- )?([a-z_.-]+|"[^"]+"):( |$))/.test(m[2]) ? m[1] + m[2] : line;
      })
      .join('\n');
    const dir = mkdtempSync(join(tmpdir(), 'airlock-default-'));
    writeFileSync(join(dir, 'policy.yaml'), text);
    copyFileSync(resolve('test/fixtures/policies/extra-roots.pem'), join(dir, 'corp-roots.pem'));
    const result = loadPolicyFile(join(dir, 'policy.yaml'), { env: { ANTHROPIC_API_KEY: 'sk-test' } });
    expect(result.ok ? [] : result.errors).toEqual([]);
    if (!result.ok) return;
    expect(result.config.hosts.length).toBe(4);
    expect(result.config.hosts[3].mcp).toEqual({ tools: ['read_*'], deny: ['delete_*'], maxBodyBytes: 1024 * 1024 });
    expect(result.config.budgets.map((b) => b.name)).toEqual(['llm']);
    expect(result.config.prices.map((p) => p.model)).toEqual(['claude-sonnet-4*']);
    expect(result.config.routes.length).toBe(1);
    expect(result.config.listen.transparent).toEqual({ kind: 'tcp', host: '0.0.0.0', port: 8443 });
    expect(result.config.hosts[0].placeholders.map((p) => p.value)).toEqual(['airlock-placeholder-anthropic']);
    expect(result.config.dataDir).toBe(dir);
    expect(result.config.store).toMatchObject({ retention: { maxAgeMs: 30 * 86_400_000, maxBytes: 10 * 1024 ** 3 }, onUnavailable: 'refuse', minFree: { bytes: 1024 ** 3 } });
  });
});
