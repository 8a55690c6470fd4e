// The credential part of a policy: secret sources (env, file, exec) and schemes (bearer, basic,
// oauth2, aws_sigv4, github_app), each checked at load with the path of every problem.
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parsePolicy } from '../../policies/parse.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-policy-credentials-'));
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
fs.writeFileSync(path.join(dir, 'app.pem'), rsa);
fs.writeFileSync(path.join(dir, 'ec.pem'), ec);
fs.writeFileSync(path.join(dir, 'not-a-key.pem'), 'hello');
fs.writeFileSync(path.join(dir, 'get-token.sh'), '#!/bin/sh\necho t\n', { mode: 0o755 });
fs.writeFileSync(path.join(dir, 'not-executable.sh'), '#!/bin/sh\necho t\n', { mode: 0o644 });
const env = { TOKEN: 'tok-real-value-1a2b', PW: 'pw-real-value-3c4d', ID: 'AKIAREAL5E6F', SECRET: 'aws-real-7a8b9c', CS: 'client-real-0d1e', BROKEN: 'two\nlines' };
const base = 'listen: { proxy: 127.0.0.1:8080 }\nhosts:\n';

function load(hosts: string) {
  return parsePolicy(parse(`${base}${hosts}`), { baseDir: dir, env, defaultDataDir: path.join(dir, 'data') });
}

describe('credential schemes that load', () => {
  it('each scheme, explained in plain words', () => {
    const r = load(`
  - { match: a.example, inject: { bearer: env:TOKEN }, placeholder: bearer-placeholder }
  - { match: b.example, inject: { basic: { user: ci-bot, password: env:PW } } }
  - match: c.example
    inject:
      oauth2: { token_url: "https://auth.example/oauth/token", client_id: my-client, client_secret: env:CS, scopes: [read, "write:all"], audience: "https://c.example", client_auth: body }
  - match: d.example
    inject:
      aws_sigv4: { access_key_id: env:ID, secret_access_key: env:SECRET, region: eu-west-1, service: s3, max_signed_body: 2MiB }
    placeholder: AKIAPLACEHOLDER
  - match: e.example
    inject:
      github_app: { app_id: 12, installation_id: 34, private_key: file:app.pem, permissions: { contents: read }, repositories: [demo] }
      headers: { x-github-api-version: env:TOKEN }
  - match: f.example
    inject: { headers: { x-api-key: { exec: [./get-token.sh, --for, f], timeout: 2s, cache: 10m } } }
  - match: g.example
    inject: { headers: { x-api-key: "exec:get-token.sh" } }
`.replace('exec:get-token.sh', `exec:${path.join(dir, 'get-token.sh')}`));
    if (!r.ok) throw new Error(r.errors.join('\n'));
    const [a, b, c, d, e, f] = r.config.hosts;
    expect(a.credential).toMatchObject({ kind: 'bearer' });
    expect(a.placeholders).toEqual([{ value: 'bearer-placeholder' }]); // a tripwire: nothing is swapped in
    expect(c.credential).toMatchObject({ kind: 'oauth2', clientId: 'my-client', scopes: ['read', 'write:all'], audience: 'https://c.example', clientAuth: 'body' });
    expect(d.credential).toMatchObject({ kind: 'aws_sigv4', region: 'eu-west-1', service: 's3', maxSignedBody: 2 * 1024 * 1024 });
    expect(e.credential).toMatchObject({ kind: 'github_app', appId: '12', installationId: '34', as: 'auto', permissions: { contents: 'read' }, repositories: ['demo'] });
    expect(e.credential?.kind === 'github_app' && e.credential.apiUrl.href).toBe('https://api.github.com/');
    expect(f.injectHeaders[0].secret.name).toBe('exec:./get-token.sh --for f');
    expect(r.config.hosts.slice(0, 5).map((h) => h.explain)).toEqual([
      'allows any method to a.example on port 443; sets Authorization: Bearer from env:TOKEN; gives the agent a placeholder instead',
      'allows any method to b.example on port 443; sets Authorization: Basic for ci-bot from env:PW',
      'allows any method to c.example on port 443; sets an OAuth2 token from https://auth.example/oauth/token (client my-client)',
      'allows any method to d.example on port 443; signs with AWS SigV4 for s3 in eu-west-1 (key env:ID); gives the agent a placeholder instead',
      'allows any method to e.example on port 443; injects x-github-api-version; sets a GitHub App installation token (app 12, installation 34)',
    ]);
    const json = JSON.stringify(r.config);
    for (const v of Object.values(env)) expect(json).not.toContain(v);
    expect(json).not.toContain(rsa.split('\n')[1]);
  });
});

describe('placeholders of one credential on several rules', () => {
  it('one AWS key for S3 and STS shares its placeholder; a static header secret does not', () => {
    const aws = '{ access_key_id: env:ID, secret_access_key: env:SECRET, region: us-east-1 }';
    const r = load(`
  - { match: s3.example, inject: { aws_sigv4: ${aws.replace('}', ', service: s3 }')} }, placeholder: AKIAPLACEHOLDER }
  - { match: sts.example, inject: { aws_sigv4: ${aws.replace('}', ', service: sts }')} }, placeholder: AKIAPLACEHOLDER }
`);
    expect(r.ok).toBe(true);
    expect(load('  - { match: a.example, inject: { headers: { x-k: env:TOKEN } }, placeholder: header-placeholder }\n  - { match: b.example, inject: { headers: { x-k: env:TOKEN } }, placeholder: header-placeholder }')).toEqual({
      ok: false,
      errors: ['hosts[1].placeholder: "header-placeholder" is already used by hosts[0].placeholder'],
    });
  });
});

describe('credential problems, each with its path', () => {
  it.each([
    ['two schemes', '  - { match: a.example, inject: { bearer: env:TOKEN, basic: { user: u, password: env:PW } } }', ['hosts[0].inject.basic: a rule has at most one credential scheme (it already has bearer)']],
    ['authorization beside a scheme', '  - { match: a.example, inject: { bearer: env:TOKEN, headers: { Authorization: env:PW } } }', ['hosts[0].inject.headers.Authorization: "authorization" is set by the rule\'s bearer']],
    ['x-amz-* beside aws_sigv4', '  - { match: a.example, inject: { aws_sigv4: { access_key_id: env:ID, secret_access_key: env:SECRET, region: us-east-1, service: s3 }, headers: { x-amz-date: env:TOKEN } } }', ['hosts[0].inject.headers.x-amz-date: "x-amz-date" is set by the rule\'s aws_sigv4 signing']],
    ['a scheme misspelt', '  - { match: a.example, inject: { baerer: env:TOKEN } }', ['hosts[0].inject.baerer: unknown key (did you mean "bearer"?)']],
    ['bearer with a line break', '  - { match: a.example, inject: { bearer: env:BROKEN } }', ['hosts[0].inject.bearer: the value of env:BROKEN contains a line break or NUL byte']],
    ['basic user with a colon', '  - { match: a.example, inject: { basic: { user: "a:b", password: env:PW } } }', ['hosts[0].inject.basic.user: expected printable ASCII without ":"']],
    ['basic without a password', '  - { match: a.example, inject: { basic: { user: u } } }', ['hosts[0].inject.basic.password: required']],
    [
      'oauth2 incomplete',
      '  - { match: a.example, inject: { oauth2: { token_url: "ftp://x/token", client_id: c, scopes: ["a b"], client_auth: jwt } } }',
      [
        'hosts[0].inject.oauth2.token_url: expected an http(s) URL without credentials or #fragment',
        'hosts[0].inject.oauth2.client_secret: required',
        'hosts[0].inject.oauth2.scopes[0]: expected a scope token (printable ASCII without spaces, quotes or backslashes)',
        'hosts[0].inject.oauth2.client_auth: expected one of basic, body',
      ],
    ],
    ['oauth2 secret not set', '  - { match: a.example, inject: { oauth2: { token_url: "https://x/t", client_id: c, client_secret: env:NOPE } } }', ['hosts[0].inject.oauth2.client_secret: environment variable NOPE is not set']],
    ['aws region', '  - { match: a.example, inject: { aws_sigv4: { access_key_id: env:ID, secret_access_key: env:SECRET, region: "US East", service: s3 } } }', ['hosts[0].inject.aws_sigv4.region: expected a lower-case AWS name like "us-east-1" or "s3"']],
    ['aws without service', '  - { match: a.example, inject: { aws_sigv4: { access_key_id: env:ID, secret_access_key: env:SECRET, region: us-east-1 } } }', ['hosts[0].inject.aws_sigv4.service: required']],
    ['github key not RSA', '  - { match: a.example, inject: { github_app: { app_id: 1, installation_id: 2, private_key: file:ec.pem } } }', ['hosts[0].inject.github_app.private_key: file:ec.pem: not an RSA key (ec)']],
    ['github key not a key', '  - { match: a.example, inject: { github_app: { app_id: 1, installation_id: 2, private_key: file:not-a-key.pem } } }', ['hosts[0].inject.github_app.private_key: file:not-a-key.pem: not a PEM private key']],
    ['github installation id', '  - { match: a.example, inject: { github_app: { app_id: 1, installation_id: abc, private_key: file:app.pem, as: token } } }', ['hosts[0].inject.github_app.installation_id: expected a number', 'hosts[0].inject.github_app.as: expected one of auto, basic, bearer']],
    ['exec not found', '  - { match: a.example, inject: { headers: { x-k: "exec:no-such-command-anywhere --x" } } }', ['hosts[0].inject.headers.x-k: command "no-such-command-anywhere" not found on PATH']],
    ['exec not executable', '  - { match: a.example, inject: { headers: { x-k: "exec:./not-executable.sh" } } }', [`hosts[0].inject.headers.x-k: ${path.join(dir, 'not-executable.sh')} is not an executable file`]],
    ['exec options', '  - { match: a.example, inject: { headers: { x-k: { exec: [], timeout: soon, cache: 0s, every: 1m } } } }', [
      'hosts[0].inject.headers.x-k.every: unknown key',
      'hosts[0].inject.headers.x-k.exec: expected a command: a string, or a list of the program and its arguments',
      'hosts[0].inject.headers.x-k.timeout: expected a duration like "90m", "12h", "30d" (units s, m, h, d, w)',
      'hosts[0].inject.headers.x-k.cache: must be longer than 0s',
    ]],
    [
      'a placeholder shared by different credentials',
      '  - { match: a.example, inject: { bearer: env:TOKEN }, placeholder: shared-placeholder }\n  - { match: b.example, inject: { bearer: env:PW }, placeholder: shared-placeholder }',
      ['hosts[1].placeholder: "shared-placeholder" is already used by hosts[0].placeholder'],
    ],
    ['a placeholder that is the secret', '  - { match: a.example, inject: { bearer: env:TOKEN }, placeholder: tok-real-value-1a2b }', ['hosts[0].placeholder: must not be the secret itself']],
  ])('%s', (_name, hosts, errors) => {
    expect(load(hosts)).toEqual({ ok: false, errors });
  });
});
