// Certificate building, checked by OpenSSL itself in strict mode.
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCertInfo } from '../../ca/cert-info.ts';
import { caMaterial, type CaMaterial } from '../../ca/material.ts';
import { createCaCertificate, createLeafCertificate } from '../../ca/x509.ts';

const work = mkdtempSync(join(tmpdir(), 'airlock-ca-x509-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let fileNo = 0;

function tmpFile(content: string): string {
  const file = join(work, `f${fileNo++}.pem`);
  writeFileSync(file, content);
  return file;
}

/** Runs `openssl verify -x509_strict`; returns OpenSSL's combined output and whether it passed. */
function verify(caPem: string, leafPem: string, ...extra: string[]): { ok: boolean; out: string } {
  const r = spawnSync('openssl', ['verify', '-x509_strict', ...extra, '-CAfile', tmpFile(caPem), tmpFile(leafPem)], {
    encoding: 'utf8',
  });
  return { ok: r.status === 0, out: r.stdout + r.stderr };
}

function text(pem: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-text', '-in', tmpFile(pem)], { encoding: 'utf8' });
}

function ecKey(curve = 'P-256'): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: curve }).privateKey;
}

function makeCa(key: KeyObject, opts: Parameters<typeof createCaCertificate>[1] = { commonName: 'test CA' }) {
  const pem = createCaCertificate(key, opts);
  return { pem, ca: caMaterial(new X509Certificate(pem), key, 'test CA') };
}

/** An organisation-style RSA CA made by OpenSSL, with PrintableString/UTF8String subject fields. */
function opensslRsaCa(): { pem: string; ca: CaMaterial } {
  const keyFile = join(work, `rsa${fileNo}.key`);
  const certFile = join(work, `rsa${fileNo++}.crt`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-noenc', '-keyout', keyFile, '-out', certFile, '-days', '365',
    '-subj', '/C=US/O=Example Corp/OU=Security/CN=Example Corp Egress CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ], { stdio: 'pipe' });
  const pem = readFileSync(certFile, 'utf8');
  return { pem, ca: caMaterial(new X509Certificate(pem), createPrivateKey(readFileSync(keyFile)), certFile) };
}

const leafKey = ecKey();
const DAY = 86_400_000;

describe('EC CA', () => {
  const { pem: caPem, ca } = makeCa(ecKey(), { commonName: 'airlock test CA' });

  it('has the CA extensions, SKI = AKI, O=airlock', () => {
    const t = text(caPem);
    expect(t).toContain('Version: 3 (0x2)');
    expect(t).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(t).toMatch(/Issuer: O = airlock, CN = airlock test CA/);
    expect(t).toMatch(/Subject: O = airlock, CN = airlock test CA/);
    expect(t).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(t).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    const ski = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(t)?.[1];
    const aki = /Authority Key Identifier:\s+(?:keyid:)?([0-9A-F:]+)/.exec(t)?.[1];
    expect(ski).toBeDefined();
    expect(aki).toBe(ski);
    expect(ca.ski.toString('hex')).toBe(ski!.replace(/:/g, '').toLowerCase());
    expect(t).not.toContain('Name Constraints');
  });

  it('has a positive 16-byte serial, notBefore an hour back and a 10-year default life', () => {
    const x = new X509Certificate(caPem);
    expect(x.serialNumber).toMatch(/^[0-7][0-9A-F]{31}$/);
    expect(x.serialNumber.startsWith('00')).toBe(false);
    const now = Date.now();
    expect(Math.abs(Date.parse(x.validFrom) - (now - 3_600_000))).toBeLessThan(60_000);
    expect(Math.abs(Date.parse(x.validTo) - (now + 3650 * DAY))).toBeLessThan(60_000);
    const short = new X509Certificate(createCaCertificate(ecKey(), { commonName: 'x', validDays: 7 }));
    expect(Math.abs(Date.parse(short.validTo) - (now + 7 * DAY))).toBeLessThan(60_000);
  });

  it('mints a DNS leaf that passes openssl verify -x509_strict with hostname and purpose checks', () => {
    const leaf = createLeafCertificate(ca, leafKey, 'api.example.com');
    const r = verify(caPem, leaf, '-purpose', 'sslserver', '-verify_hostname', 'api.example.com');
    expect(r.out).toContain(': OK');
    expect(r.ok).toBe(true);
    expect(verify(caPem, leaf, '-verify_hostname', 'other.example.com').ok).toBe(false);
  });

  it('gives the leaf the expected extensions', () => {
    const t = text(createLeafCertificate(ca, leafKey, 'api.example.com'));
    expect(t).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(t).toMatch(/Subject: CN = api.example.com/);
    expect(t).toMatch(/Issuer: O = airlock, CN = airlock test CA/);
    expect(t).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(t).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(t).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication\n/);
    expect(t).toMatch(/Subject Alternative Name:\s+DNS:api.example.com\n/);
    const aki = /Authority Key Identifier:\s+(?:keyid:)?([0-9A-F:]+)/.exec(t)?.[1];
    expect(aki?.replace(/:/g, '').toLowerCase()).toBe(ca.ski.toString('hex'));
    expect(t).toMatch(/Subject Key Identifier:/);
  });

  it('gives leaves 30 days, capped at the CA notAfter', () => {
    const x = new X509Certificate(createLeafCertificate(ca, leafKey, 'a.example.com'));
    expect(Math.abs(Date.parse(x.validTo) - (Date.now() + 30 * DAY))).toBeLessThan(60_000);
    const { pem: shortPem, ca: shortCa } = makeCa(ecKey(), { commonName: 'short', validDays: 3 });
    const capped = new X509Certificate(createLeafCertificate(shortCa, leafKey, 'a.example.com'));
    expect(capped.validTo).toBe(new X509Certificate(shortPem).validTo);
    expect(verify(shortPem, capped.toString()).ok).toBe(true);
  });

  it('mints IPv4 and IPv6 literal leaves with an iPAddress SAN and no CN', () => {
    for (const [host, shown] of [['127.0.0.1', '127.0.0.1'], ['::1', '0:0:0:0:0:0:0:1'], ['[2001:db8::5]', '2001:DB8:0:0:0:0:0:5']]) {
      const leaf = createLeafCertificate(ca, leafKey, host!);
      const t = text(leaf);
      expect(t).toMatch(new RegExp(`Subject Alternative Name: critical\\s+IP Address:${shown}\\n`));
      expect(t).toMatch(/Subject: \n/);
      const bare = host!.replace(/^\[|\]$/g, '');
      const r = verify(caPem, leaf, '-purpose', 'sslserver', '-verify_ip', bare);
      expect(r.out).toContain(': OK');
    }
  });

  it('leaves out the CN of a host longer than 64 characters and marks the SAN critical', () => {
    const host = `${'a'.repeat(60)}.example.com`;
    const leaf = createLeafCertificate(ca, leafKey, host);
    expect(text(leaf)).toMatch(/Subject Alternative Name: critical\s+DNS:a{60}\.example\.com/);
    expect(verify(caPem, leaf, '-verify_hostname', host).ok).toBe(true);
  });

  it('refuses hosts that are not a host name or IP literal', () => {
    for (const bad of ['', 'a b.com', '*.example.com', 'exa$mple.com', 'fe80::1%eth0', 'a..b', `${'a'.repeat(64)}.com`]) {
      expect(() => createLeafCertificate(ca, leafKey, bad)).toThrow(/invalid host/);
    }
  });

  it('signs with ecdsa-with-SHA384 for a P-384 CA', () => {
    const { pem, ca: ca384 } = makeCa(ecKey('P-384'));
    expect(text(pem)).toContain('ecdsa-with-SHA384');
    const leaf = createLeafCertificate(ca384, leafKey, 'x.example.com');
    expect(text(leaf)).toContain('Signature Algorithm: ecdsa-with-SHA384');
    expect(verify(pem, leaf).ok).toBe(true);
  });

  it('refuses CA keys it cannot sign with', () => {
    const ed = generateKeyPairSync('ed25519').privateKey;
    expect(() => createCaCertificate(ed, { commonName: 'x' })).toThrow(/unsupported CA key type ed25519/);
    expect(() => createCaCertificate(ecKey('secp256k1'), { commonName: 'x' })).toThrow(/unsupported CA key curve/);
  });
});

describe('imported RSA CA', () => {
  const { pem: caPem, ca } = opensslRsaCa();

  it('reads the SKI OpenSSL wrote, which equals RFC 5280 method 1', () => {
    const t = text(caPem);
    const ski = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(t)?.[1];
    expect(ca.ski.toString('hex')).toBe(ski!.replace(/:/g, '').toLowerCase());
    expect(ca.keyType).toBe('rsa');
  });

  it('mints a sha256WithRSAEncryption leaf with the issuer encoded exactly as the CA subject', () => {
    const leaf = createLeafCertificate(ca, leafKey, 'api.example.com');
    const t = text(leaf);
    expect(t).toContain('Signature Algorithm: sha256WithRSAEncryption');
    expect(t).toMatch(/Issuer: C = US, O = Example Corp, OU = Security, CN = Example Corp Egress CA/);
    // The leaf key is EC, so no keyEncipherment.
    expect(t).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(readCertInfo(new X509Certificate(caPem).raw).subjectDer.equals(ca.subjectDer)).toBe(true);
    const r = verify(caPem, leaf, '-purpose', 'sslserver', '-verify_hostname', 'api.example.com');
    expect(r.out).toContain(': OK');
  });

  it('adds keyEncipherment for an RSA leaf key', () => {
    const rsaLeaf = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const leaf = createLeafCertificate(ca, rsaLeaf, 'rsa.example.com');
    expect(text(leaf)).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
    expect(verify(caPem, leaf).ok).toBe(true);
  });
});

describe('name constraints', () => {
  const { pem: caPem, ca } = makeCa(ecKey(), {
    commonName: 'constrained',
    nameConstraints: ['*.example.com', 'api.other.org', '10.1.2.3', '2001:db8::1'],
  });
  const passes = (host: string) => verify(caPem, createLeafCertificate(ca, leafKey, host)).ok;

  it('writes a critical extension with dNSName and /32, /128 iPAddress subtrees', () => {
    const t = text(caPem);
    expect(t).toMatch(/Name Constraints: critical\s+Permitted:\s+DNS:example.com\s+DNS:api.other.org\s+IP:10.1.2.3\/255.255.255.255\s+IP:2001:DB8:0:0:0:0:0:1\/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF\n/);
    expect(t).not.toContain('Excluded');
  });

  it('lets names inside the constraints verify', () => {
    for (const host of ['a.example.com', 'deep.a.example.com', 'example.com', 'api.other.org', 'v2.api.other.org', '10.1.2.3', '2001:db8::1']) {
      expect(passes(host), host).toBe(true);
    }
  });

  it('makes names outside the constraints fail', () => {
    for (const host of ['evil.com', 'other.org', 'www.other.org', 'example.com.evil.com', 'badexample.com', '10.1.2.4', '::1']) {
      const r = verify(caPem, createLeafCertificate(ca, leafKey, host));
      expect(r.ok, host).toBe(false);
      expect(r.out).toMatch(/(permitted|excluded) subtree violation/);
    }
  });

  it('excludes every IP address when only host names are listed', () => {
    const { pem, ca: dnsOnly } = makeCa(ecKey(), { commonName: 'dns only', nameConstraints: ['*.example.com'] });
    expect(text(pem)).toMatch(/Excluded:\s+IP:0.0.0.0\/0.0.0.0\s+IP:0:0:0:0:0:0:0:0\/0:0:0:0:0:0:0:0\n/);
    expect(verify(pem, createLeafCertificate(dnsOnly, leafKey, 'a.example.com')).ok).toBe(true);
    expect(verify(pem, createLeafCertificate(dnsOnly, leafKey, '127.0.0.1')).ok).toBe(false);
    expect(verify(pem, createLeafCertificate(dnsOnly, leafKey, '::1')).ok).toBe(false);
  });

  it('excludes every host name when only IP addresses are listed', () => {
    const { pem, ca: ipOnly } = makeCa(ecKey(), { commonName: 'ip only', nameConstraints: ['192.0.2.7'] });
    expect(verify(pem, createLeafCertificate(ipOnly, leafKey, '192.0.2.7')).ok).toBe(true);
    expect(verify(pem, createLeafCertificate(ipOnly, leafKey, '192.0.2.8')).ok).toBe(false);
    expect(verify(pem, createLeafCertificate(ipOnly, leafKey, 'example.com')).ok).toBe(false);
  });

  it('rejects patterns that are not a host, *.domain or IP', () => {
    for (const bad of ['*', '*.', 'a.*.com', 'foo*.com', '10.0.0.0/8', 'exa mple.com']) {
      expect(() => createCaCertificate(ecKey(), { commonName: 'x', nameConstraints: [bad] }), bad).toThrow(
        /expected a host name, \*\.domain or an IP address/,
      );
    }
  });
});
