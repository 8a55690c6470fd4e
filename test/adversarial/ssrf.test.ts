// SSRF (OWASP SSRF cheat sheet, Orange Tsai's "A New Era of SSRF", Smokescreen's address
// tests): loopback and metadata addresses in every spelling, names that resolve to private
// addresses, userinfo tricks, redirects, and airlock's own admin plane reached by address, by
// name, by the localhost alias and by a name that resolves to it (DNS rebinding) — even when a
// rule would allow the address.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, type Rig, startRig, viaProxy } from './harness.ts';

let rig: Rig;
beforeAll(async () => {
  rig = await startRig();
});
afterAll(() => rig?.close());

async function connect(authority: string) {
  const mark = await rig.mark();
  const r = await raw(rig.ports.proxy, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  return { r, flows: await rig.flowsAfter(mark) };
}

describe('numeric IPv4 spellings are refused, never read as another address', () => {
  for (const spelled of ['0x7f.1', '2130706433', '017700000001', '127.1', '0177.0.0.1', '0x7f000001', '127.0.0.0x1', '0251.0376.0251.0376', '169.254.43518', '0xa9fea9fe']) {
    it(`CONNECT ${spelled}:443 and http://${spelled}/`, async () => {
      const { r, flows } = await connect(`${spelled}:443`);
      expect(r.status).toBe(400);
      expect(flows).toHaveLength(1);
      expect(flows[0]).toMatchObject({ code: 'bad_request', method: 'CONNECT' });
      expect(flows[0].reason).toMatch(/not a valid IPv4 address/);
      const mark = await rig.mark();
      const abs = await raw(rig.ports.proxy, `GET http://${spelled}/ HTTP/1.1\r\nHost: ${spelled}\r\nConnection: close\r\n\r\n`);
      expect(abs.status).toBe(400);
      expect((await rig.flowsAfter(mark))[0].reason).toMatch(/not a valid IPv4 address/);
      rig.untouched();
    });
  }
});

describe('IP literals the policy does not name are denied in every form', () => {
  for (const literal of ['[::1]', '[0:0:0:0:0:0:0:1]', '[::ffff:127.0.0.2]', '[::ffff:7f00:2]', '[::127.0.0.2]', '169.254.169.254', '[::ffff:169.254.169.254]', '[fd00:ec2::254]', '0.0.0.0', '[::]', '10.0.0.1']) {
    it(`CONNECT ${literal}:443`, async () => {
      const { r, flows } = await connect(`${literal}:443`);
      expect(r.status).toBe(403);
      expect(flows[0]).toMatchObject({ code: 'host_not_allowed', decision: 'deny' });
      rig.untouched();
    });
  }

  it('zone ids are refused', async () => {
    for (const z of ['[fe80::1%25eth0]:443', '[fe80::1%eth0]:443']) {
      const { r, flows } = await connect(z);
      expect(r.status).toBe(400);
      expect(flows[0].reason).toMatch(/IPv6/);
    }
  });

  it('an IPv4-mapped literal is the IPv4 address: allowed exactly when the IPv4 address is', async () => {
    // 127.0.0.1 is allowed (rule loopback-ip) only on the admin port, where airlock refuses to dial itself.
    const r = await viaProxy(rig.ports.proxy, `http://[::ffff:127.0.0.1]:${rig.ports.admin}/metrics`);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'address_not_allowed', host: '127.0.0.1' });
  });
});

describe('names resolving to non-public addresses are refused after DNS', () => {
  for (const [name, ip] of [['loop.test', '127.0.0.1'], ['meta.test', '169.254.169.254'], ['private.test', '10.1.2.3'], ['mapped.test', '127.0.0.1'], ['ula.test', 'fd00:ec2::254']]) {
    it(`${name} -> ${ip} over plain HTTP`, async () => {
      const mark = await rig.mark();
      const r = await viaProxy(rig.ports.proxy, `http://${name}/latest/meta-data/`, {});
      // plain http to a rule without plain_http is refused first; the https case below shows the address check
      expect(r.status).toBe(403);
      const flows = await rig.flowsAfter(mark);
      expect(flows.map((f) => f.code)).toContain('plain_http_not_allowed');
      rig.untouched();
    });
  }

  it('https to a name resolving to the metadata address: 403 address_not_allowed, recorded', async () => {
    const { request, ProxyAgent } = await import('undici');
    for (const [name, ip] of [['meta.test', '169.254.169.254'], ['loop.test', '127.0.0.1'], ['mapped.test', '127.0.0.1'], ['ula.test', 'fd00:ec2::254']]) {
      const mark = await rig.mark();
      const dispatcher = new ProxyAgent({ uri: `http://127.0.0.1:${rig.ports.proxy}`, requestTls: { ca: rig.ca } });
      const res = await request(`https://${name}/latest/meta-data/`, { dispatcher });
      const body = JSON.parse(await res.body.text());
      expect(res.statusCode).toBe(403);
      expect(body.error).toBe('address_not_allowed');
      expect(body.reason).toContain(ip);
      await dispatcher.close();
      const flows = await rig.flowsAfter(mark);
      expect(flows.some((f) => f.code === 'address_not_allowed' && f.decision === 'deny')).toBe(true);
    }
    rig.untouched();
  });
});

describe('authority tricks', () => {
  for (const [what, req] of [
    ['userinfo in CONNECT', 'CONNECT api.test@canary.test:443 HTTP/1.1\r\nHost: canary.test\r\n\r\n'],
    ['userinfo in an absolute URL', 'GET http://plain.test@canary.test/ HTTP/1.1\r\nHost: canary.test\r\nConnection: close\r\n\r\n'],
    ['backslash before @', 'GET http://canary.test\\@plain.test/ HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n'],
    ['userinfo in Host', 'GET http://canary.test/ HTTP/1.1\r\nHost: plain.test@canary.test\r\nConnection: close\r\n\r\n'],
    ['raw UTF-8 host', 'CONNECT b\xc3\xbccher.test:443 HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['mixed-script punycode (Cyrillic а in "api")', 'CONNECT xn--pi-7kc.test:443 HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['invalid punycode', 'CONNECT xn--zz.test:443 HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['port out of range', 'CONNECT api.test:65536 HTTP/1.1\r\nHost: x\r\n\r\n'],
  ] as const) {
    it(what, async () => {
      const mark = await rig.mark();
      const r = await raw(rig.ports.proxy, Buffer.from(req, 'latin1'));
      expect(r.status, r.text).toBe(400);
      const flows = await rig.flowsAfter(mark);
      expect(flows).toHaveLength(1);
      expect(flows[0].code).toBe('bad_request');
      rig.untouched();
    });
  }

  it('case, a trailing dot and an explicit default port name the same allowed host', async () => {
    const { request, ProxyAgent } = await import('undici');
    const dispatcher = new ProxyAgent({ uri: `http://127.0.0.1:${rig.ports.proxy}`, requestTls: { ca: rig.ca } });
    for (const url of ['https://API.Test/echo', 'https://api.test./echo', 'https://api.test:443/echo']) {
      const res = await request(url, { dispatcher });
      expect(res.statusCode, url).toBe(200);
      await res.body.text();
    }
    await dispatcher.close();
  });

  it('redirects go back to the agent; airlock never follows them', async () => {
    const { request, ProxyAgent } = await import('undici');
    const dispatcher = new ProxyAgent({ uri: `http://127.0.0.1:${rig.ports.proxy}`, requestTls: { ca: rig.ca } });
    const before = rig.api.seen.length;
    const res = await request('https://api.test/redirect', { dispatcher });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('https://elsewhere.test/');
    await res.body.text();
    await dispatcher.close();
    expect(rig.api.seen.length).toBe(before + 1);
    expect(rig.canary.seen).toHaveLength(0);
  });
});

describe("airlock's own listeners are never an upstream (admin plane isolation)", () => {
  const adminUrls = () => [
    `http://127.0.0.1:${rig.ports.admin}/metrics`,
    `http://localhost:${rig.ports.admin}/healthz`,
    `http://self.test:${rig.ports.admin}/metrics`, // a name resolving to the admin address: DNS rebinding
    `http://[::ffff:127.0.0.1]:${rig.ports.admin}/healthz`,
    `http://self.test:${rig.ports.proxy}/`, // the proxy itself (a loop)
  ];
  it('absolute-form through the explicit proxy, with rules that allow the address', async () => {
    for (const url of adminUrls()) {
      const mark = await rig.mark();
      const r = await viaProxy(rig.ports.proxy, url);
      expect(r.status, url).toBe(403);
      expect(r.body).not.toMatch(/airlock_|"status":"ok"/);
      const body = JSON.parse(r.body);
      expect(body.error).toBe('address_not_allowed');
      expect(body.reason).toMatch(/airlock itself/);
      const flows = await rig.flowsAfter(mark);
      expect(flows.map((f) => f.code)).toEqual(['address_not_allowed']);
    }
  });

  it('plain HTTP inside a CONNECT tunnel, and through the transparent listener by Host', async () => {
    const t = await raw(rig.ports.proxy, `CONNECT self.test:${rig.ports.admin} HTTP/1.1\r\nHost: self.test\r\n\r\nGET /metrics HTTP/1.1\r\nHost: self.test:${rig.ports.admin}\r\nConnection: close\r\n\r\n`);
    expect(t.text).toMatch(/^HTTP\/1\.1 200 Connection Established/);
    expect(t.text).toMatch(/HTTP\/1\.1 403[\s\S]*address_not_allowed/);
    expect(t.text).not.toMatch(/airlock_/);
    const tr = await raw(rig.ports.transparent, `GET /metrics HTTP/1.1\r\nHost: self.test:${rig.ports.admin}\r\nConnection: close\r\n\r\n`);
    expect(tr.status).toBe(403);
    expect(tr.text).toMatch(/address_not_allowed/);
  });

  it('the admin listener itself still answers operators directly', async () => {
    const r = await raw(rig.ports.admin, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(r.status).toBe(200);
  });
});
