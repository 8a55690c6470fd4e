// Host rules scoped to agents: the Proxy-Authorization user, or the listener a request came in on.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, tempDir, type TestAirlock } from '../helpers/airlock.ts';
import { run } from '../helpers/run.ts';
import { type TestUpstream, startTlsUpstream } from '../helpers/upstream.ts';

let api: TestUpstream;
let airlock: TestAirlock;
let routeSock: string;
let proxyPort: string;

beforeAll(async () => {
  const dir = tempDir();
  const { ip, pki, up: started } = await startTlsUpstream(dir, ['api.test', 'shared.test']);
  api = started;
  routeSock = path.join(dir, 'route.sock');
  airlock = await startTestAirlock(
    `
listen:
  proxy: 127.0.0.1:0
routes:
  - listen: unix:${routeSock}
    upstream: https://api.test
upstream:
  ca_files: [${pki.caCert}]
  resolve: { api.test: ${ip}, shared.test: ${ip} }
hosts:
  - name: alice-api
    match: api.test
    agents: [alice]
  - name: route-api
    match: api.test
    methods: [GET]
    agents: ["listener:unix:${routeSock}"]
  - name: shared
    match: shared.test
`,
    {},
    dir,
  );
  proxyPort = airlock.addresses.proxy!.address.split(':').pop()!;
});

afterAll(async () => {
  await airlock?.close();
  await api?.close();
});

/** curl through the explicit proxy as `user` (no credentials when undefined); prints the status. */
const viaProxy = (user: string | undefined, url: string, ...args: string[]) =>
  run('curl', [
    '-sS', '--cacert', airlock.caCertPath,
    '-x', user === undefined ? `http://127.0.0.1:${proxyPort}` : `http://${user}:x@127.0.0.1:${proxyPort}`,
    '-o', '/dev/null', '-w', '%{http_connect} %{http_code}', ...args, url,
  ]);

async function lastFlow(host: string): Promise<Record<string, unknown>> {
  await airlock.store.flush();
  return airlock.store.db.prepare('SELECT * FROM flows WHERE host = ? ORDER BY id DESC LIMIT 1').get(host) as Record<string, unknown>;
}

describe('agents: [user]', () => {
  it('two agents through one airlock get different decisions for the same host', async () => {
    const alice = await viaProxy('alice', 'https://api.test/echo');
    expect(alice.stdout).toBe('200 200');
    expect(await lastFlow('api.test')).toMatchObject({ agent_user: 'alice', decision: 'allow', rule_id: 'alice-api', status: 200 });

    const bob = await viaProxy('bob', 'https://api.test/echo');
    expect(bob.stdout).toBe('403 000'); // CONNECT refused before any TLS
    expect(bob.code).not.toBe(0);
    expect(await lastFlow('api.test')).toMatchObject({ agent_user: 'bob', decision: 'deny', code: 'host_not_allowed', method: 'CONNECT' });

    const nobody = await viaProxy(undefined, 'https://api.test/echo');
    expect(nobody.stdout).toBe('403 000');
    expect(await lastFlow('api.test')).toMatchObject({ agent_user: null, decision: 'deny', code: 'host_not_allowed' });
  });

  it('plain-HTTP absolute-form requests are scoped the same way', async () => {
    // No rule allows plain HTTP here, so alice gets the closer denial and bob the default deny.
    const alice = await viaProxy('alice', 'http://api.test/echo');
    expect(alice.stdout).toBe('000 403');
    expect(await lastFlow('api.test')).toMatchObject({ agent_user: 'alice', code: 'plain_http_not_allowed', rule_id: 'alice-api' });
    const bob = await viaProxy('bob', 'http://api.test/echo');
    expect(bob.stdout).toBe('000 403');
    expect(await lastFlow('api.test')).toMatchObject({ agent_user: 'bob', code: 'host_not_allowed', rule_id: null });
  });

  it('a rule without agents applies to every agent', async () => {
    for (const user of ['alice', 'bob', undefined]) expect((await viaProxy(user, 'https://shared.test/echo')).stdout).toBe('200 200');
  });
});

describe('agents: ["listener:ADDR"]', () => {
  it('a rule scoped to a route listener applies only there', async () => {
    const viaRoute = (method: string) =>
      run('curl', ['-sS', '--unix-socket', routeSock, '-X', method, '-o', '/dev/null', '-w', '%{http_code}', 'http://localhost/echo']);
    expect((await viaRoute('GET')).stdout).toBe('200');
    expect(await lastFlow('api.test')).toMatchObject({ entry: 'route', listener: `unix:${routeSock}`, decision: 'allow', rule_id: 'route-api' });
    // route-api allows only GET; no other rule applies to this listener's anonymous agent.
    expect((await viaRoute('DELETE')).stdout).toBe('403');
    expect(await lastFlow('api.test')).toMatchObject({ code: 'method_not_allowed', rule_id: 'route-api' });

    // The same host through the explicit proxy: route-api does not apply, and only alice has a rule.
    expect((await viaProxy(undefined, 'https://api.test/echo')).stdout).toBe('403 000');
    expect((await viaProxy('carol', 'https://api.test/echo')).stdout).toBe('403 000');
  });
});
