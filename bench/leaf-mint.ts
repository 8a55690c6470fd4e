// Mean time to mint one leaf certificate (and, separately, its TLS context) for distinct hosts.
// Run: npx tsx bench/leaf-mint.ts
import { generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { caMaterial, type CaMaterial } from '../ca/material.ts';
import { LeafMinter } from '../ca/leaf-cache.ts';
import { createCaCertificate } from '../ca/x509.ts';

const N = 2000;
const WARM = 200; // JIT and lazy module initialisation

function ca(key: KeyObject): CaMaterial {
  return caMaterial(new X509Certificate(createCaCertificate(key, { commonName: 'bench CA' })), key, 'bench CA');
}

function run(label: string, material: CaMaterial, fn: (minter: LeafMinter, host: string) => unknown): void {
  const minter = new LeafMinter(material, { cacheSize: N + WARM });
  for (let i = 0; i < WARM; i++) fn(minter, `warm-${i}.example.com`);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) fn(minter, `host-${i}.bench.example.com`);
  const ms = (performance.now() - t0) / N;
  console.log(`${label}: ${ms.toFixed(3)} ms per mint, mean over ${N} distinct hosts (minted ${minter.stats.minted - WARM})`);
}

const ec = ca(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
const rsa = ca(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
console.log(`node ${process.version} ${process.arch}; leaf key EC P-256`);
run('EC P-256 CA, certificate only', ec, (m, h) => m.certPem(h));
run('EC P-256 CA, certificate + tls.SecureContext', ec, (m, h) => m.secureContext(h));
run('RSA-2048 CA, certificate only', rsa, (m, h) => m.certPem(h));
