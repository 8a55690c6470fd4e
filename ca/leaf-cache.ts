// Mints and caches per-host leaf certificates in memory for the TLS-terminating proxy.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { CaMaterial } from './material.ts';
import { createLeafCertificate, leafNotAfter } from './x509.ts';

const DAY = 86_400_000;

/**
 * TLS 1.2 suites offered to agents: ECDHE (forward secrecy) with AEAD only, no CBC or SHA-1
 * (the leaf key is always ECDSA P-256; the RSA names serve nothing but cost nothing). TLS 1.3's
 * suites are all AEAD and stay Node's defaults. Checked by sslscan in test/adversarial/tls.test.ts.
 */
export const AGENT_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

interface Entry {
  certPem: string;
  notAfter: number;
  context?: SecureContext; // built on first handshake only; certPem() callers do not need one
}

export class LeafMinter {
  readonly stats = { minted: 0, hits: 0 };
  readonly #ca: CaMaterial;
  // One key for every leaf: minting is then a signature, not a key generation. Never on disk.
  readonly #leafKey: KeyObject;
  readonly #leafKeyPem: string;
  readonly #cache: LRUCache<string, Entry>;

  constructor(ca: CaMaterial, opts: { cacheSize?: number } = {}) {
    this.#ca = ca;
    this.#leafKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    // Node 20's createSecureContext takes PEM, not a KeyObject.
    this.#leafKeyPem = this.#leafKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    this.#cache = new LRUCache({ max: opts.cacheSize ?? 1000 });
  }

  /** `host` must be normalised by the caller: lower case, no trailing dot. */
  certPem(host: string): string {
    return this.#entry(host).certPem;
  }

  /** A usable leaf for `host` is cached: secureContext() will not mint. */
  has(host: string): boolean {
    const cached = this.#cache.peek(host);
    return cached !== undefined && !this.#needsRenewal(cached, Date.now());
  }

  secureContext(host: string): SecureContext {
    const entry = this.#entry(host);
    // A self-signed CA is the client's trust anchor, so the leaf alone is a complete chain;
    // an imported intermediate must be sent along for clients that trust only its root.
    const chain = this.#ca.selfSigned ? entry.certPem : entry.certPem + this.#ca.certPem;
    entry.context ??= createSecureContext({ key: this.#leafKeyPem, cert: chain, minVersion: 'TLSv1.2', ciphers: AGENT_CIPHERS, honorCipherOrder: true });
    return entry.context;
  }

  #entry(host: string): Entry {
    const now = Date.now();
    const cached = this.#cache.get(host);
    if (cached && !this.#needsRenewal(cached, now)) {
      this.stats.hits++;
      return cached;
    }
    const entry: Entry = {
      certPem: createLeafCertificate(this.#ca, this.#leafKey, host),
      notAfter: leafNotAfter(this.#ca.notAfter, now),
    };
    this.stats.minted++;
    this.#cache.set(host, entry);
    return entry;
  }

  // Renew with under a day left, unless the CA's own expiry caps it and a new leaf would be no better.
  #needsRenewal(entry: Entry, now: number): boolean {
    if (entry.notAfter <= now) return true;
    return entry.notAfter - now < DAY && entry.notAfter < leafNotAfter(this.#ca.notAfter, now);
  }
}
