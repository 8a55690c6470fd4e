// LeafMinter: one shared leaf key, LRU caching, renewal before expiry.
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { caMaterial, type CaMaterial } from '../../ca/material.ts';
import { LeafMinter } from '../../ca/leaf-cache.ts';
import { createCaCertificate } from '../../ca/x509.ts';

const DAY = 86_400_000;

function makeCa(validDays?: number): CaMaterial {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  return caMaterial(new X509Certificate(createCaCertificate(key, { commonName: 'cache CA', validDays })), key, 'cache CA');
}
const ca = makeCa();

afterEach(() => {
  vi.useRealTimers();
});

describe('LeafMinter', () => {
  it('mints on first use, then serves the cached certificate and context', () => {
    const minter = new LeafMinter(ca);
    const pem = minter.certPem('a.example.com');
    expect(minter.stats).toEqual({ minted: 1, hits: 0 });
    expect(minter.certPem('a.example.com')).toBe(pem);
    const ctx = minter.secureContext('a.example.com');
    expect(minter.secureContext('a.example.com')).toBe(ctx);
    expect(minter.stats).toEqual({ minted: 1, hits: 3 });
    const x = new X509Certificate(pem);
    expect(x.subjectAltName).toBe('DNS:a.example.com');
    expect(x.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
  });

  it('uses one leaf key for every host, and a new one per minter', () => {
    const minter = new LeafMinter(ca);
    const a = new X509Certificate(minter.certPem('a.example.com'));
    const b = new X509Certificate(minter.certPem('b.example.com'));
    expect(a.serialNumber).not.toBe(b.serialNumber);
    expect(a.publicKey.equals(b.publicKey)).toBe(true);
    expect(a.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const other = new X509Certificate(new LeafMinter(ca).certPem('a.example.com'));
    expect(other.publicKey.equals(a.publicKey)).toBe(false);
  });

  it('evicts the least recently used host beyond cacheSize', () => {
    const minter = new LeafMinter(ca, { cacheSize: 2 });
    minter.certPem('a.test');
    minter.certPem('b.test');
    minter.certPem('a.test'); // a is now more recent than b
    minter.certPem('c.test'); // evicts b
    expect(minter.stats).toEqual({ minted: 3, hits: 1 });
    minter.certPem('a.test');
    expect(minter.stats).toEqual({ minted: 3, hits: 2 });
    minter.certPem('b.test'); // re-minted, evicts c
    expect(minter.stats).toEqual({ minted: 4, hits: 2 });
    minter.certPem('c.test');
    expect(minter.stats).toEqual({ minted: 5, hits: 2 });
  });

  it('re-mints a leaf with less than a day left', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const minter = new LeafMinter(ca);
    const first = minter.certPem('a.example.com');
    vi.setSystemTime(start + 28 * DAY);
    expect(minter.certPem('a.example.com')).toBe(first);
    vi.setSystemTime(start + 29.5 * DAY);
    const renewed = minter.certPem('a.example.com');
    expect(renewed).not.toBe(first);
    expect(minter.stats).toEqual({ minted: 2, hits: 1 });
    expect(Date.parse(new X509Certificate(renewed).validTo)).toBeGreaterThan(start + 59 * DAY);
  });

  it('does not re-mint on every call when the CA itself expires within a day', () => {
    const shortCa = makeCa(0.5);
    const minter = new LeafMinter(shortCa);
    const pem = minter.certPem('a.example.com');
    expect(minter.certPem('a.example.com')).toBe(pem);
    expect(minter.stats).toEqual({ minted: 1, hits: 1 });
    expect(new X509Certificate(pem).validTo).toBe(new X509Certificate(shortCa.certPem).validTo);
  });

  it('throws once the CA has expired', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const minter = new LeafMinter(makeCa(2));
    vi.setSystemTime(Date.now() + 3 * DAY);
    expect(() => minter.certPem('a.example.com')).toThrow(/CA certificate expired on/);
  });

  it('mints IP-literal leaves', () => {
    const minter = new LeafMinter(ca);
    expect(new X509Certificate(minter.certPem('127.0.0.1')).subjectAltName).toBe('IP Address:127.0.0.1');
    expect(new X509Certificate(minter.certPem('::1')).subjectAltName).toBe('IP Address:0:0:0:0:0:0:0:1');
  });
});
