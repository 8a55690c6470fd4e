// The built-in DLP rule pack (policies/dlp/): rule hygiene, each rule's own examples, a corpus of
// look-alikes on which no rule may fire, and a request body with pasted secrets that all must be found.
// The matcher here is deliberately small (RE2 over a Buffer, group 1 or the whole match, validate);
// the streaming scanner in proxy/dlp/ has its own tests.
import fs from 'node:fs';
import path from 'node:path';
import RE2 from 're2';
import { describe, expect, it } from 'vitest';
import { BUILTIN_RULES, ruleById } from '../../policies/dlp/index.ts';
import type { DlpRule } from '../../policies/dlp/types.ts';
import { compileEngine, findMatches } from '../../proxy/dlp/engine.ts';
import { maxMatchLength } from '../../proxy/dlp/span.ts';
import { HOLD } from '../../proxy/dlp/stream.ts';
import { servicesTable } from '../helpers/dlp-doc-table.ts';
import { base62Crc32, githubChecksum, ibanMod97, luhn, notPlaceholder, shannonEntropy, usSsn } from '../../policies/dlp/validators.ts';

interface Finding {
  rule: string;
  secret: string;
  match: string;
  start: number;
  end: number;
}

const compiled = new Map<string, RE2>();
function regex(rule: DlpRule): RE2 {
  let r = compiled.get(rule.id);
  if (!r) compiled.set(rule.id, (r = new RE2(rule.pattern, 'gd')));
  return r;
}


// Each rule through the scanner's own engine (its keyword prefilter, keyword windows and
// armored-block extension), one rule at a time so a finding names the rule that made it.
const engines = new Map<string, ReturnType<typeof compileEngine>>();
function scan(rule: DlpRule, text: string): Finding[] {
  const buf = Buffer.from(text);
  let engine = engines.get(rule.id);
  if (!engine) engines.set(rule.id, (engine = compileEngine([rule])));
  return findMatches(engine, buf, 0, () => true).map((m) => ({
    rule: rule.id,
    secret: buf.subarray(m.sStart, m.sEnd).toString('utf8'),
    match: buf.subarray(m.start, m.end).toString('utf8'),
    start: m.sStart,
    end: m.sEnd,
  }));
}

const scanAll = (text: string): Finding[] => BUILTIN_RULES.flatMap((rule) => scan(rule, text));

// Unescaped `+`, `*` or `{n,}` outside a character class: a repeat the scanner's window cannot bound.
function unboundedRepeats(pattern: string): string[] {
  const found: string[] = [];
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      if (pattern[i + 1] === '^') i++;
      if (pattern[i + 1] === ']') i++;
    } else if (c === '+' || c === '*') {
      found.push(`${c} at ${i}: …${pattern.slice(Math.max(0, i - 20), i + 1)}`);
    } else if (c === '{' && /^\{[0-9]+,\}/.test(pattern.slice(i))) {
      found.push(`{n,} at ${i}: …${pattern.slice(Math.max(0, i - 20), i + 6)}`);
    }
  }
  return found;
}

describe('built-in DLP rule pack: hygiene', () => {
  it('has at least 80 rules with unique kebab-case ids, and ruleById finds each', () => {
    expect(BUILTIN_RULES.length).toBeGreaterThanOrEqual(80);
    const ids = BUILTIN_RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const rule of BUILTIN_RULES) {
      expect(rule.id).toMatch(/^[a-z0-9]+(?:-[a-z0-9]+)*$/);
      expect(ruleById(rule.id)).toBe(rule);
      expect(rule.description.length).toBeGreaterThan(10);
    }
    expect(ruleById('no-such-rule')).toBeUndefined();
  });

  it('defaults: credentials and keys block, cards/IBAN/SSN redact, emails and phones log', () => {
    for (const id of ['aws-access-key-id', 'private-key-rsa', 'github-pat', 'generic-password']) expect(ruleById(id)?.action).toBe('block');
    for (const id of ['payment-card-number', 'iban', 'us-ssn']) expect(ruleById(id)?.action).toBe('redact');
    for (const id of ['email-address', 'phone-number']) {
      expect(ruleById(id)?.action).toBe('log');
      expect(ruleById(id)?.severity).toBe('low');
    }
  });

  it('every rule names its service and the documentation of its format', () => {
    for (const rule of BUILTIN_RULES) {
      expect(rule.service.trim().length, rule.id).toBeGreaterThan(1);
      expect(rule.source.trim().length, rule.id).toBeGreaterThan(10);
    }
    expect(new Set(BUILTIN_RULES.map((r) => r.service)).size).toBeGreaterThanOrEqual(140);
  });

  it('docs/dlp.md lists every rule with its service and source (print the table: npx tsx test/helpers/dlp-doc-table.ts)', () => {
    const page = fs.readFileSync(path.join(import.meta.dirname, '../../docs/dlp.md'), 'utf8');
    expect(page.includes(servicesTable()), 'the services table in docs/dlp.md is out of date').toBe(true);
  });

  // A keyword is a prefilter: one that is a short common string (`sk-`, `@`) makes the scanner try
  // the rule almost everywhere. These rules predate the rule; no new rule may join them.
  const SHORT_KEYWORDS = new Set(['aws-access-key-id', 'azure-ad-client-secret', 'ibm-cloud-api-key', 'huggingface-token', 'replicate-api-token', 'deepseek-api-key', 'telegram-bot-token', 'sendgrid-api-key', 'mailchimp-api-key', 'nuget-api-key', 'crates-io-token', 'jwt', 'airtable-pat', 'dropbox-token', 'url-credentials', 'connection-string-password', 'email-address', 'phone-number']);
  it('no keyword shorter than 4 characters, but in the rules that always had one', () => {
    const short = BUILTIN_RULES.filter((r) => !SHORT_KEYWORDS.has(r.id) && r.keywords.some((k) => k.length < 4)).map((r) => r.id);
    expect(short).toEqual([]);
  });

  it('every rule\'s longest match fits in the scanner\'s hold-back (so chunking cannot split one)', () => {
    const long = BUILTIN_RULES.filter((r) => !(maxMatchLength(r.pattern) < HOLD)).map((r) => `${r.id}: ${maxMatchLength(r.pattern)}`);
    expect(long).toEqual([]);
  });

  describe.each(BUILTIN_RULES.map((r) => [r.id, r] as const))('%s', (_id, rule) => {
    it('compiles in RE2, bounds every repeat, has lower-case keywords and examples', () => {
      expect(() => regex(rule)).not.toThrow();
      expect(unboundedRepeats(rule.pattern)).toEqual([]);
      for (const k of rule.keywords) {
        expect(k.length).toBeGreaterThan(0);
        expect(k).toBe(k.toLowerCase());
      }
      expect(rule.examples.match.length).toBeGreaterThanOrEqual(1);
      expect(rule.examples.nomatch.length).toBeGreaterThanOrEqual(1);
    });

    it.each(rule.examples.match.map((ex) => [ex.length > 80 ? `${ex.slice(0, 77)}...` : ex, ex]))('finds %j', (_label, ex) => {
      const found = scan({ ...rule, keywords: [] }, ex);
      expect(found, `no ${rule.id} finding`).not.toEqual([]);
      // The prefilter would have let it through: a keyword is inside the match itself.
      if (rule.keywords.length > 0) {
        expect(found.some((f) => rule.keywords.some((k) => f.match.toLowerCase().includes(k))), `no keyword of ${rule.id} in the match`).toBe(true);
      }
    });

    it.each(rule.examples.nomatch.map((ex) => [ex.length > 80 ? `${ex.slice(0, 77)}...` : ex, ex]))('ignores %j', (_label, ex) => {
      expect(scan({ ...rule, keywords: [] }, ex)).toEqual([]);
    });
  });
});

describe('validators', () => {
  it('GitHub checksum: tokens made with base62(CRC32) pass, a changed character fails', () => {
    const random = 'Zq3mV8xLr2TbN6wKc9YhJ4sDf7GpA1';
    const token = `ghp_${random}${base62Crc32(random)}`;
    expect(githubChecksum(token)).toBe(true);
    expect(githubChecksum(token.slice(0, -1) + (token.endsWith('a') ? 'b' : 'a'))).toBe(false);
    expect(githubChecksum(`ghp_${'a'.repeat(36)}`)).toBe(false);
  });

  it('Luhn, IBAN mod-97 and SSN rules', () => {
    expect(luhn('4539148803436467')).toBe(true);
    expect(luhn('4539148803436468')).toBe(false);
    expect(ibanMod97('DE89 3704 0044 0532 0130 00')).toBe(true);
    expect(ibanMod97('DE89 3704 0044 0532 0130 01')).toBe(false);
    expect(ibanMod97('DE89370400440532013')).toBe(false); // wrong length for DE
    expect(usSsn('536-22-1947')).toBe(true);
    for (const bad of ['000-22-1947', '666-22-1947', '950-22-1947', '536-00-1947', '536-22-0000', '078-05-1120', '219-09-9999']) {
      expect(usSsn(bad), bad).toBe(false);
    }
  });

  it('placeholders and entropy', () => {
    for (const p of ['changeme', '${DB_PASSWORD}', '<your-key>', 'xxxxxxxx', '****', 'example-key', 'dummy', 'test', '{{ .Values.pw }}', '$SECRET', '%API_KEY%']) {
      expect(notPlaceholder(p), p).toBe(false);
    }
    expect(notPlaceholder('Vq7#rT2!mZ9p')).toBe(true);
    expect(shannonEntropy('aaaa')).toBe(0);
    expect(shannonEntropy('abcd')).toBe(2);
  });
});

describe('look-alike corpus: no rule of any severity fires', () => {
  const dir = path.join(import.meta.dirname, '../fixtures/dlp/lookalikes');
  const files = fs.readdirSync(dir).sort();

  it('has several files', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
  });

  it.each(files)('%s', (file) => {
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    const found = scanAll(text).map((f) => `${f.rule}: ${f.secret.slice(0, 60)}`);
    expect(found).toEqual([]);
  });
});

describe('true corpus: secrets pasted into a chat-completion request body', () => {
  const secrets: Record<string, string> = {
    'aws-access-key-id': 'AKIAWXMZHVBMTZKCJPLQ',
    'aws-secret-access-key': '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',
    'postgres-url-password': '6Jii7w1A1sya0Y',
    'stripe-secret-key': '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',
    'github-pat': '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',
    'slack-bot-token': 'xoxb-248818084642-6383716739221-mWOR2sN4fHSeel7j9WiXgTlc',
    'anthropic-api-key': 'sk-ant-api03-u4zK4N82YtgrTzxiWI3p7qwcbvgQwC_iKMr-T1LUKzX51hHB2cWXZG8GocbJInj7K3B_rYGZri5zoGtkGDAIZUSLxeys4AA',
    'openai-api-key': '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',
    'jwt': 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI4NDQxOTIyNSIsIm5hbWUiOiJzdmMta2xkeTBsIiwiaWF0IjoxNzE4NjMwMDA3fQ.BI2KW2JCyJ9Zyfbn4FPAUU0jp-Dq_785U9RM3gvD9EF',
    'payment-card-number': '4784 7767 2050 8992',
    'sendgrid-api-key': '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',
    'private-key-openssh': '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nqELMoYDzGjXNYLHVQpAAnwCCKoBFbvxOLfV3zncD8Ni2HlKi2zrB5H07IPnHzGuh2FuJm9\nBOrD1pln4z+I0PgXWoG3jIE3myIXdVMJRbMBybvheaDCUVgPAlrA7/P5mVnxDfLdDY0F1V\nB170iX2omrGO4U83wwgIxcyWo8S12Hm+CZIbeHdlCS4Tk3zPbj1N/8mjAhrbVZHuqhRzqo\nSY5BnCkicnqAMM91bcnrCHSJ\n-----END OPENSSH PRIVATE KEY-----',
  };
  const s = (id: string) => secrets[id]!;
  const body = JSON.stringify({
    model: 'gpt-4o-2024-08-06',
    temperature: 0.2,
    stream: true,
    messages: [
      { role: 'system', content: 'You are a careful deployment assistant. Answer with shell commands.' },
      {
        role: 'user',
        content: [
          'The deploy job fails at the migrate step. Here is the .env it runs with:',
          '',
          `AWS_ACCESS_KEY_ID=${s('aws-access-key-id')}`,
          `AWS_SECRET_ACCESS_KEY=${s('aws-secret-access-key')}`,
          `DATABASE_URL=postgresql://app:${s('postgres-url-password')}@db.prod.internal:5432/app?sslmode=require`,
          `STRIPE_SECRET_KEY=${s('stripe-secret-key')}`,
          `GITHUB_TOKEN=${s('github-pat')}`,
          `SLACK_BOT_TOKEN=${s('slack-bot-token')}`,
          `SENDGRID_API_KEY=${s('sendgrid-api-key')}`,
          '',
          'and the deploy key it uses for git:',
          s('private-key-openssh'),
          '',
          'The health check returns 401:',
          `curl -sS -H 'Authorization: Bearer ${s('jwt')}' https://api.prod.internal/healthz`,
          '',
          `The failing request was for the customer whose card is ${s('payment-card-number')}.`,
        ].join('\n'),
      },
      { role: 'assistant', content: 'Which client library calls the model?' },
      {
        role: 'user',
        content: `This one:\n\nimport anthropic\nclient = anthropic.Anthropic(api_key="${s('anthropic-api-key')}")\nfallback = OpenAI(api_key="${s('openai-api-key')}")\n`,
      },
    ],
  });

  it.each(Object.keys(secrets))('finds %s', (id) => {
    const found = scanAll(body);
    // In the JSON body the key's line breaks are escaped (\n), so compare without them.
    const plain = (t: string) => t.replace(/\\n|\n/g, '');
    expect(found.some((f) => f.rule === id && plain(f.secret).includes(plain(s(id))))).toBe(true);
  });

  it('finds nothing that is not one of the pasted secrets', () => {
    const unexpected = scanAll(body).filter((f) => !Object.values(secrets).some((v) => f.secret.includes(v) || v.includes(f.secret) || f.secret.replace(/\\n/g, '\n').includes(v)));
    expect(unexpected.map((f) => `${f.rule}: ${f.secret}`)).toEqual([]);
  });
});
