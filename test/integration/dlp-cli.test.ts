// `airlock dlp scan` and `airlock dlp rules` as a user runs them: the real CLI process (bundle).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/airlock.ts';
import { BIN } from '../helpers/cli.ts';
import { run } from '../helpers/run.ts';

const AWS = 'AKIAQYLPMN5HHHFPZAM2';

describe('airlock dlp', () => {
  it('rules lists every rule with its severity, action, service and the documentation of its format', async () => {
    const r = await run('node', [BIN, 'dlp', 'rules']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^aws-access-key-id\s+critical\s+block\s+AWS\s+AWS access key ID.*\n {4}source: https:\/\/docs\.aws\.amazon\.com\//m);
    expect(r.stdout).toMatch(/^brevo-api-key\s+critical\s+block\s+Brevo \(Sendinblue\)\s+.*\n {4}source: \S/m);
    expect(Number(/^(\d+) rules, \d+ services$/m.exec(r.stdout)?.[1])).toBeGreaterThanOrEqual(200);
  });

  it('rules --json prints every rule whole, even into a pipe read slowly (more than the 64 KiB a pipe holds)', async () => {
    // The reader starts after a pause, so the pipe fills and the rest of the output waits in node.
    const r = await run('sh', ['-c', 'node "$0" dlp rules --json | (sleep 1; cat)', BIN]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(64 * 1024);
    const { rules } = JSON.parse(r.stdout) as { rules: { id: string; service: string; source: string; action: string }[] };
    expect(rules.length).toBeGreaterThanOrEqual(200);
    for (const rule of rules) expect([rule.id, rule.service.length > 0, rule.source.length > 0]).toEqual([rule.id, true, true]);
    expect(rules.find((x) => x.id === 'sentry-dsn')).toMatchObject({ service: 'Sentry', action: 'log' });
  });

  it('scan prints masked findings for a file and for stdin, and exits 1', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'request.json');
    fs.writeFileSync(file, JSON.stringify({ note: 'x'.repeat(100_000), creds: Buffer.from(`aws_access_key_id=${AWS}`).toString('base64') }));
    const r = await run('node', [BIN, 'dlp', 'scan', file]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^aws-access-key-id\tblock\trequest\.json@\d+ via base64\t/m);
    expect(r.stdout).not.toContain(AWS);
    const s = await run('node', [BIN, 'dlp', 'scan', '-'], { input: `key=${AWS}\n` });
    expect(s.stdout).toMatch(/^aws-access-key-id\tblock\tstdin@4\tAKIA…(\(20\))?/m);
    const clean = await run('node', [BIN, 'dlp', 'scan', '-'], { input: 'nothing to see here\n' });
    expect([clean.code, clean.stdout.trim()]).toEqual([0, 'no findings']);
  });

  it("scan uses a policy's actions and exceptions", async () => {
    const dir = tempDir();
    const policy = path.join(dir, 'policy.yaml');
    fs.writeFileSync(
      policy,
      `listen: { proxy: 127.0.0.1:0 }
dlp:
  actions: { aws-access-key-id: log }
  custom:
    - id: acme-deploy-token
      pattern: 'acme_dt_[a-z0-9]{24}'
      keywords: [acme_dt_]
      examples: { match: [acme_dt_abcdefghijklmnopqrstuvwx], nomatch: [acme_dt_short] }
`,
    );
    const r = await run('node', [BIN, 'dlp', 'scan', '--config', policy, '-'], { input: `${AWS} acme_dt_abcdefghijklmnopqrstuvwx` });
    expect(r.stdout).toMatch(/^aws-access-key-id\tlog\t/m);
    expect(r.stdout).toMatch(/^acme-deploy-token\tblock\t/m);
  });

  it('a custom rule whose examples fail, or that RE2 refuses, is a load error naming its path', async () => {
    const dir = tempDir();
    const policy = path.join(dir, 'policy.yaml');
    fs.writeFileSync(
      policy,
      `listen: { proxy: 127.0.0.1:0 }
dlp:
  actions: { no-such-rule: block }
  custom:
    - id: backref
      pattern: '(a)\\1'
    - id: weak
      pattern: 'tok_[0-9]{4}'
      examples: { match: [tok_ab12] }
  exceptions:
    - hosts: ['*']
`,
    );
    const r = await run('node', [BIN, 'check-config', policy]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('dlp.actions.no-such-rule: no such rule');
    expect(r.stderr).toContain('dlp.custom[0].pattern: not a valid RE2 pattern');
    expect(r.stderr).toContain('dlp.custom[1].examples.match[0]: the rule does not find this example');
    expect(r.stderr).toContain('dlp.exceptions[0].hosts[0]:');
  });
});
