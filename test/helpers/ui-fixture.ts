// A real airlock with the web UI on loopback, a real HTTPS upstream, and real curl traffic through
// the explicit proxy: allowed, denied by host and by method, bodies of every kind, and XSS
// payloads in a URL, a header, a body and an agent name.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { startTestAirlock, tempDir, type TestAirlock } from './airlock.ts';
import { freePort } from './dns.ts';
import { run, type RunResult } from './run.ts';
import { type TestUpstream, startTlsUpstream } from './upstream.ts';

export const SECRET = 'sk-ui-test-SECRET-4f1e77';
/** Script that would set window.__xss (and open a dialog) if it ever ran. */
export const XSS = `<script>window.__xss=1;alert(1)</script><img src=x onerror="window.__xss=2;alert(2)">`;
/** The same, without characters a URL path cannot carry raw. */
export const XSS_URL = `<script>window.__xss=3</script><svg/onload=window.__xss=4>`;
/** An Anthropic API key's shape (the DLP rule pack's own example): the built-in rule blocks it. */
export const DLP_KEY = 'sk-ant-api03-2iK2vZt2yA4yQbzpHusADxKIesRlI2oK_u61OdK90dIpyONBlGvlXbk9PQG1YaTUj-p1niTbMlLW7DqHDTgZKGAbIj8nVAA';
/** A 1x1 PNG. */
export const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'base64');

export interface UiFixture {
  dir: string;
  airlock: TestAirlock;
  upstream: TestUpstream;
  uiPort: number;
  base: string;
  token: string;
  /** curl through the explicit proxy, trusting airlock's CA. */
  curl(...args: string[]): Promise<RunResult>;
  /** The policy file; rewrite it and reload to change the policy. */
  policyFile: string;
  policy: string;
  /** The fixture's policy with more host rules (YAML list items) appended. */
  policyWith(extraHosts: string): string;
  close(): Promise<void>;
}

export function uiPolicy(ip: string, caCert: string, uiPort: number, extra = ''): string {
  return `
listen:
  proxy: 127.0.0.1:0
  ui: 127.0.0.1:${uiPort}
upstream:
  ca_files: [${caCert}]
  resolve: { api.test: ${ip}, other.test: ${ip}, blocked.test: ${ip}, ui.test: 127.0.0.1 }
store:
  retention: { max_age: 30d }
hosts:
  - match: api.test
    name: api
    inject: { headers: { x-api-key: env:API_TEST_KEY } }
  - match: other.test
    name: other
    methods: [GET]
  - match: ui.test
    name: ui-self
    plain_http: true
    ports: [${uiPort}]
    allow_ips: [127.0.0.0/8]
${extra}`;
}

export async function startUiFixture(): Promise<UiFixture> {
  const dir = tempDir('airlock-ui-');
  const { ip, pki, up } = await startTlsUpstream(dir, ['api.test', 'other.test']);
  const uiPort = await freePort();
  const policy = uiPolicy(ip, pki.caCert, uiPort);
  // In the process environment too: a reload from the UI re-reads the policy with it.
  process.env.API_TEST_KEY = SECRET;
  const airlock = await startTestAirlock(policy, { API_TEST_KEY: SECRET }, dir);
  const curl = (...args: string[]) => run('curl', ['-sS', '--max-time', '20', '--cacert', airlock.caCertPath, '-x', airlock.proxyUrl, ...args]);
  return {
    dir,
    airlock,
    upstream: up,
    uiPort,
    base: `http://127.0.0.1:${uiPort}`,
    token: airlock.uiToken!,
    curl,
    policyFile: path.join(dir, 'policy.yaml'),
    policy: fs.readFileSync(path.join(dir, 'policy.yaml'), 'utf8'),
    policyWith: (extraHosts) => `${uiPolicy(ip, pki.caCert, uiPort, extraHosts)}\nlog: { flows: false }\n`,
    close: async () => {
      await airlock.close().catch(() => {});
      await up.close().catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The traffic the UI tests look at. Returns once every flow is committed. */
export async function makeTraffic(fx: UiFixture): Promise<void> {
  const { curl, dir } = fx;
  const file = (name: string, data: string | Buffer) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, data);
    return `@${p}`;
  };
  await curl('https://api.test/echo?q=wombat');
  await curl('-H', 'content-type: application/json', '--data-binary', file('j.json', JSON.stringify({ model: 'm', note: XSS, nested: { list: [1, 2, { deep: true }] } })), 'https://api.test/echo');
  await curl('-H', 'content-type: application/x-www-form-urlencoded', '--data-binary', 'name=platypus&note=%3Cscript%3Ewindow.__xss%3D5%3C%2Fscript%3E', 'https://api.test/reverse');
  await curl('-H', 'content-type: application/octet-stream', '--data-binary', file('b.bin', Buffer.from([0, 1, 2, 0xff, 0xfe, 0x7f, 0x80, 0])), 'https://api.test/upload');
  await curl('-H', 'content-type: image/png', '--data-binary', file('p.png', PNG), 'https://api.test/upload');
  // XSS in a header (echoed back into the response body), a text body and the URL itself.
  await curl('-H', `x-evil: ${XSS}`, '-H', 'content-type: text/html', '--data-binary', file('x.html', XSS), `https://api.test/reverse/${XSS_URL}?q=${XSS_URL}`);
  await curl('--proxy-user', `${XSS_URL}:pw`, 'https://api.test/echo?agent=evil');
  await curl('https://other.test/echo');
  await curl('-X', 'POST', '-d', 'x=1', 'https://other.test/echo'); // denied: method_not_allowed by rule "other"
  await curl('https://blocked.test/'); // denied: host_not_allowed
  await curl('-H', 'content-type: application/json', '-d', '{"model":"claude-sonnet-4-5","messages":[]}', 'https://api.test/v1/messages');
  // A key pasted into a prompt: DLP (anthropic-api-key, action block) stops it.
  await curl('-H', 'content-type: application/json', '--data-binary', JSON.stringify({ prompt: 'use this key', key: DLP_KEY }), 'https://api.test/echo?dlp=1');
  await fx.airlock.store.flush();
}

/** Adds a DLP finding to a flow, as the DLP scanner records them (a writable connection beside airlock's). */
export function addFinding(fx: UiFixture, flowId: number, f: { rule_id: string; location: string; action: string; preview: string | null }): void {
  const db = new Database(fx.airlock.config.store.path);
  try {
    db.pragma('busy_timeout = 5000');
    db.prepare('INSERT INTO findings (flow_id, rule_id, location, action, preview) VALUES (?, ?, ?, ?, ?)').run(flowId, f.rule_id, f.location, f.action, f.preview);
  } finally {
    db.close();
  }
}

/** id of the newest flow matching a SQL condition on flows (test data only). */
export function flowIdWhere(fx: UiFixture, where: string, ...params: unknown[]): number {
  const r = fx.airlock.store.db.prepare(`SELECT id FROM flows WHERE ${where} ORDER BY id DESC LIMIT 1`).get(...params) as { id: number } | undefined;
  if (!r) throw new Error(`no flow where ${where}`);
  return r.id;
}
