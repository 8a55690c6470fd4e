// Each preset against its real client, through a real airlock whose policy is only the preset:
// the client succeeds and airlock recorded nothing but allowed flows. The upstreams are fakes on
// loopback under the real names (upstream.resolve), so a client that starts calling another
// host, method or path fails here, not in production.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { makeUpstreamPki } from '../helpers/certs.ts';
import { FAKE_REPLY, type FakeAnthropic, startFakeAnthropic } from '../helpers/fake-anthropic.ts';
import { type FakeRegistries, REGISTRY_HOSTS, startFakeRegistries } from '../helpers/fake-registries.ts';
import { run } from '../helpers/run.ts';
import { loopbackIp } from '../helpers/upstream.ts';

let dir: string;
let ip: string;
let apiIp: string;
let caFile: string;
let fakes: FakeRegistries;
let api: FakeAnthropic;
const airlocks: TestAirlock[] = [];

beforeAll(async () => {
  dir = tempDir();
  ip = loopbackIp();
  apiIp = loopbackIp();
  const pki = makeUpstreamPki(path.join(dir, 'pki'), [...REGISTRY_HOSTS, 'api.anthropic.com']);
  caFile = pki.caCert;
  fakes = await startFakeRegistries(dir, pki, ip, { npm: 'airlock-demo', pypi: 'airlock_demo', github: 'octo/demo' });
  api = await startFakeAnthropic(pki, apiIp);
});

afterAll(async () => {
  for (const a of airlocks) await a.close();
  await fakes?.close();
  await api?.close();
});

async function withPreset(include: string, env: NodeJS.ProcessEnv = {}): Promise<TestAirlock> {
  const d = fs.mkdtempSync(path.join(dir, 'airlock-'));
  const resolve = [...REGISTRY_HOSTS.map((h) => `${h}: ${ip}`), `api.anthropic.com: ${apiIp}`].join(', ');
  const a = await startTestAirlock(`listen:\n  proxy: 127.0.0.1:0\nupstream:\n  ca_files: [${caFile}]\n  resolve: { ${resolve} }\ninclude: ${include}\n`, env, d);
  airlocks.push(a);
  return a;
}

async function decisions(a: TestAirlock): Promise<{ decision: string; code: string | null; method: string; host: string; path: string }[]> {
  await a.store.flush();
  return a.store.db.prepare('SELECT decision, code, method, host, path FROM flows ORDER BY id').all() as never;
}

function proxyEnv(a: TestAirlock): NodeJS.ProcessEnv {
  return { HTTPS_PROXY: a.proxyUrl, HTTP_PROXY: a.proxyUrl, https_proxy: a.proxyUrl, http_proxy: a.proxyUrl, NO_PROXY: '', no_proxy: '' };
}

describe('presets, each with its real client', () => {
  it('npm: npm install from the registry (packument, tarball, audit)', async () => {
    const a = await withPreset('[npm]');
    const project = fs.mkdtempSync(path.join(dir, 'npm-project-'));
    fs.writeFileSync(path.join(project, 'package.json'), '{"name":"p","version":"1.0.0"}');
    const npm = (...args: string[]) =>
      run('npm', [...args, '--registry', 'https://registry.npmjs.org/', '--no-fund', '--no-update-notifier'], {
        cwd: project,
        env: { ...proxyEnv(a), npm_config_cafile: a.caCertPath, npm_config_cache: path.join(project, '.cache'), npm_config_proxy: a.proxyUrl, npm_config_https_proxy: a.proxyUrl },
      });
    const r = await npm('install', 'airlock-demo');
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(project, 'node_modules/airlock-demo/index.js'), 'utf8')).toContain('42');
    const audit = await npm('audit', '--audit-level=critical');
    expect(audit.code, audit.stderr).toBe(0);
    const rows = await decisions(a);
    expect(rows.some((f) => f.path === '/airlock-demo/-/airlock-demo-1.0.0.tgz')).toBe(true);
    expect(rows.some((f) => f.method === 'POST' && f.path.startsWith('/-/npm/v1/security/'))).toBe(true);
    expect(rows.filter((f) => f.decision !== 'allow')).toEqual([]);
  });

  it('pypi: pip download from the simple index and the files host', async () => {
    const a = await withPreset('[pypi]');
    const out = fs.mkdtempSync(path.join(dir, 'pip-'));
    // --isolated: no pip.conf of this machine (extra indexes, certificates) takes part.
    const r = await run('python3', ['-m', 'pip', 'download', '--isolated', '--no-deps', '--no-cache-dir', '--disable-pip-version-check',
      '--proxy', a.proxyUrl, '--cert', a.caCertPath, '--index-url', 'https://pypi.org/simple', '-d', out, 'airlock_demo'],
      { env: { REQUESTS_CA_BUNDLE: a.caCertPath, SSL_CERT_FILE: a.caCertPath } });
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readdirSync(out)).toEqual(['airlock_demo-1.0-py3-none-any.whl']);
    const rows = await decisions(a);
    expect(new Set(rows.map((f) => f.host))).toEqual(new Set(['pypi.org', 'files.pythonhosted.org']));
    expect(rows.filter((f) => f.decision !== 'allow')).toEqual([]);
  });

  it('github: git clone over HTTPS', async () => {
    const a = await withPreset('[github]');
    const into = path.join(fs.mkdtempSync(path.join(dir, 'git-')), 'demo');
    const r = await run('git', ['-c', `http.proxy=${a.proxyUrl}`, 'clone', '-q', 'https://github.com/octo/demo.git', into], {
      env: { GIT_TERMINAL_PROMPT: '0', GIT_SSL_CAINFO: a.caCertPath },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(into, 'README.md'), 'utf8')).toContain('fake GitHub');
    const rows = await decisions(a);
    expect(rows.some((f) => f.method === 'POST' && f.path.endsWith('/git-upload-pack'))).toBe(true);
    expect(rows.filter((f) => f.decision !== 'allow')).toEqual([]);
  });

  it("anthropic-api: Anthropic's TypeScript SDK on Node 20 (EnvHttpProxyAgent loaded with --import), the key injected", async () => {
    const real = 'sk-ant-api03-REAL-sdk-key-0123456789';
    const a = await withPreset('[{ preset: anthropic-api, secret: env:SDK_KEY, placeholder: airlock-placeholder-sdk }]', { SDK_KEY: real });
    const script = `
import Anthropic from '@anthropic-ai/sdk';
const client = new Anthropic({ apiKey: 'airlock-placeholder-sdk', maxRetries: 0 });
const m = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
const s = await client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }).finalText();
console.log(m.content[0].text + '|' + s);`;
    const before = api.seen.length;
    const r = await run(process.execPath, ['--import', path.resolve('deploy/node-env-proxy.mjs'), '--input-type=module', '-e', script], {
      cwd: process.cwd(),
      env: { ...proxyEnv(a), NODE_EXTRA_CA_CERTS: a.caCertPath },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`${FAKE_REPLY}|${FAKE_REPLY}`);
    expect(api.seen.slice(before).map((s) => s.apiKey)).toEqual([real, real]);
    expect((await decisions(a)).filter((f) => f.decision !== 'allow')).toEqual([]);
  });

  it('an unknown preset name is a policy problem with a suggestion', async () => {
    await expect(withPreset('[npn]')).rejects.toThrow(/include\[0\]: no preset "npn" \(did you mean "npm"\?\)/);
  });
});
