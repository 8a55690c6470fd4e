// The CA on disk: modes under any umask, load checks, import of an organisation CA, export.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { caPaths, exportCa, importCa, initCa, loadCa } from '../../ca/authority.ts';
import { createCaCertificate, createLeafCertificate } from '../../ca/x509.ts';

const work = mkdtempSync(join(tmpdir(), 'airlock-ca-auth-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let dirNo = 0;
const freshDir = () => join(work, `data${dirNo++}`);
const modeOf = (path: string) => statSync(path).mode & 0o777;

function withUmask<T>(mask: number, fn: () => T): T {
  const old = process.umask(mask);
  try {
    return fn();
  } finally {
    process.umask(old);
  }
}

/** OpenSSL-made CA files; `extra` adds -addext arguments. */
function opensslCa(name: string, keyAlg: string[], ...extra: string[]): { cert: string; key: string } {
  const cert = join(work, `${name}.crt`);
  const key = join(work, `${name}.key`);
  const ext = extra.length ? extra.flatMap((e) => ['-addext', e]) : ['-addext', 'keyUsage=critical,keyCertSign,cRLSign'];
  execFileSync('openssl', [
    'req', '-x509', ...keyAlg, '-noenc', '-keyout', key, '-out', cert, '-days', '30',
    '-subj', `/O=Example Corp/CN=${name}`, ...ext,
  ], { stdio: 'pipe' });
  return { cert, key };
}
const RSA = ['-newkey', 'rsa:2048'];
const EC384 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'];

describe('initCa', () => {
  for (const mask of [0o077, 0o000, 0o022]) {
    it(`makes a 0700 directory, a 0600 key and a 0644 cert under umask ${mask.toString(8).padStart(3, '0')}`, () => {
      const dataDir = freshDir();
      const res = withUmask(mask, () => initCa(dataDir));
      const p = caPaths(dataDir);
      expect(res).toEqual({ created: true, certPath: p.cert });
      expect(p).toEqual({ dir: join(dataDir, 'ca'), cert: join(dataDir, 'ca', 'ca.crt'), key: join(dataDir, 'ca', 'ca.key') });
      expect(modeOf(dataDir)).toBe(0o700);
      expect(modeOf(p.dir)).toBe(0o700);
      expect(modeOf(p.key)).toBe(0o600);
      expect(modeOf(p.cert)).toBe(0o644);
    });
  }

  it('leaves an existing CA untouched', () => {
    const dataDir = freshDir();
    initCa(dataDir);
    const p = caPaths(dataDir);
    const before = [readFileSync(p.cert), readFileSync(p.key), statSync(p.key).mtimeMs];
    expect(initCa(dataDir, { commonName: 'other' })).toEqual({ created: false, certPath: p.cert });
    expect([readFileSync(p.cert), readFileSync(p.key), statSync(p.key).mtimeMs]).toEqual(before);
  });

  it('does not loosen an existing data directory it did not create', () => {
    const dataDir = freshDir();
    mkdirSync(dataDir, { mode: 0o750 });
    chmodSync(dataDir, 0o750);
    initCa(dataDir);
    expect(modeOf(dataDir)).toBe(0o750);
    expect(modeOf(caPaths(dataDir).dir)).toBe(0o700);
  });

  it('writes an EC P-256 CA with the given name and constraints', () => {
    const dataDir = freshDir();
    initCa(dataDir, { commonName: 'My Laptop CA', nameConstraints: ['*.example.com'] });
    const ca = loadCa(dataDir);
    expect(ca.keyType).toBe('ec');
    expect(ca.key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const x = new X509Certificate(ca.certPem);
    expect(x.subject).toBe('O=airlock\nCN=My Laptop CA');
    expect(x.ca).toBe(true);
    expect(execFileSync('openssl', ['x509', '-noout', '-ext', 'nameConstraints', '-in', caPaths(dataDir).cert], { encoding: 'utf8' }))
      .toContain('DNS:example.com');
  });

  it('refuses to go on from a key left without a certificate', () => {
    const dataDir = freshDir();
    initCa(dataDir);
    rmSync(caPaths(dataDir).cert);
    expect(() => initCa(dataDir)).toThrow(/incomplete CA in .*ca\.key exists without ca\.crt/);
  });
});

describe('loadCa', () => {
  it('returns the material minting needs', () => {
    const dataDir = freshDir();
    initCa(dataDir);
    const ca = loadCa(dataDir);
    expect(ca.certDer.equals(new X509Certificate(readFileSync(caPaths(dataDir).cert)).raw)).toBe(true);
    expect(ca.certPem).toBe(readFileSync(caPaths(dataDir).cert, 'utf8'));
    expect(ca.ski).toHaveLength(20);
    expect(ca.selfSigned).toBe(true);
    expect(ca.notAfter.getTime()).toBeGreaterThan(Date.now() + 3000 * 86_400_000);
    expect(ca.subjectDer.length).toBeGreaterThan(10);
  });

  it('names the directory and the command when there is no CA', () => {
    const dataDir = freshDir();
    expect(() => loadCa(dataDir)).toThrow(`no CA in ${join(dataDir, 'ca')}: run \`airlock ca init\``);
  });

  it('refuses a key readable by group or others, and says how to fix it', () => {
    const dataDir = freshDir();
    initCa(dataDir);
    const { key } = caPaths(dataDir);
    chmodSync(key, 0o644);
    expect(() => loadCa(dataDir)).toThrow(`CA key ${key} is accessible by group or others (mode 0644): fix with \`chmod 600 ${key}\``);
    chmodSync(key, 0o640);
    expect(() => loadCa(dataDir)).toThrow(/mode 0640/);
    chmodSync(key, 0o600);
    expect(loadCa(dataDir).keyType).toBe('ec');
  });
});

describe('importCa', () => {
  it('imports an RSA CA with safe modes and mints verifiable leaves from it', () => {
    const org = opensslCa('rsa-org', RSA);
    const dataDir = freshDir();
    withUmask(0o000, () => importCa(dataDir, org.cert, org.key));
    const p = caPaths(dataDir);
    expect([modeOf(p.dir), modeOf(p.key), modeOf(p.cert)]).toEqual([0o700, 0o600, 0o644]);
    const ca = loadCa(dataDir);
    expect(ca.keyType).toBe('rsa');
    const leaf = createLeafCertificate(ca, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, 'a.example.com');
    const leafFile = join(work, 'rsa-leaf.pem');
    writeFileSync(leafFile, leaf);
    expect(execFileSync('openssl', ['verify', '-x509_strict', '-CAfile', org.cert, leafFile], { encoding: 'utf8' })).toContain('OK');
  });

  it('imports a P-384 CA', () => {
    const org = opensslCa('ec384-org', EC384);
    const dataDir = freshDir();
    importCa(dataDir, org.cert, org.key);
    expect(loadCa(dataDir).key.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
  });

  it('refuses a key that does not match the certificate', () => {
    const a = opensslCa('mismatch-a', RSA);
    const b = opensslCa('mismatch-b', RSA);
    const dataDir = freshDir();
    expect(() => importCa(dataDir, a.cert, b.key)).toThrow(`the private key does not match the public key of the certificate ${a.cert}`);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('refuses a certificate that is not a CA', () => {
    const leaf = opensslCa('not-a-ca', RSA, 'basicConstraints=critical,CA:FALSE');
    expect(() => importCa(freshDir(), leaf.cert, leaf.key)).toThrow(`${leaf.cert} is not a CA certificate (basicConstraints cA is not true)`);
  });

  it('refuses a CA whose keyUsage forbids signing certificates', () => {
    const crlOnly = opensslCa('crl-only', RSA, 'basicConstraints=critical,CA:TRUE', 'keyUsage=critical,cRLSign');
    expect(() => importCa(freshDir(), crlOnly.cert, crlOnly.key)).toThrow(/keyUsage without keyCertSign/);
  });

  it('refuses an expired CA', () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const cert = join(work, 'expired.crt');
    const keyFile = join(work, 'expired.key');
    writeFileSync(cert, createCaCertificate(key, { commonName: 'old', validDays: -1 }));
    writeFileSync(keyFile, key.export({ type: 'pkcs8', format: 'pem' }));
    expect(() => importCa(freshDir(), cert, keyFile)).toThrow(new RegExp(`${cert} expired on \\d{4}-`));
  });

  it('refuses an encrypted key, saying how to decrypt it', () => {
    const org = opensslCa('encrypted', RSA);
    const enc = join(work, 'encrypted-enc.key');
    execFileSync('openssl', ['pkey', '-in', org.key, '-aes256', '-passout', 'pass:secret', '-out', enc]);
    expect(() => importCa(freshDir(), org.cert, enc)).toThrow(`CA key ${enc} is encrypted`);
  });

  it('refuses files that are missing or hold something else', () => {
    const org = opensslCa('garbage', RSA);
    const missing = join(work, 'missing.crt');
    expect(() => importCa(freshDir(), missing, org.key)).toThrow(`cannot read CA certificate ${missing}`);
    expect(() => importCa(freshDir(), org.key, org.key)).toThrow(`${org.key} does not contain a PEM or DER certificate`);
    expect(() => importCa(freshDir(), org.cert, org.cert)).toThrow(`${org.cert} does not contain a PEM or DER private key`);
  });

  it('replaces an existing CA only with force', () => {
    const dataDir = freshDir();
    initCa(dataDir);
    const oldSki = loadCa(dataDir).ski;
    const org = opensslCa('replacement', RSA);
    expect(() => importCa(dataDir, org.cert, org.key)).toThrow(/a CA already exists in .*: refusing to replace it without --force/);
    expect(loadCa(dataDir).ski).toEqual(oldSki);
    withUmask(0o000, () => importCa(dataDir, org.cert, org.key, { force: true }));
    const ca = loadCa(dataDir);
    expect(ca.keyType).toBe('rsa');
    expect(ca.ski).not.toEqual(oldSki);
    const p = caPaths(dataDir);
    expect([modeOf(p.key), modeOf(p.cert)]).toEqual([0o600, 0o644]);
  });
});

describe('exportCa', () => {
  it('returns the certificate as PEM or DER, never the key', () => {
    const dataDir = freshDir();
    initCa(dataDir);
    const pem = exportCa(dataDir, 'pem').toString();
    expect(pem).toBe(readFileSync(caPaths(dataDir).cert, 'utf8'));
    expect(pem).not.toContain('PRIVATE');
    expect(exportCa(dataDir, 'der').equals(new X509Certificate(pem).raw)).toBe(true);
    expect(() => exportCa(freshDir(), 'pem')).toThrow(/no CA in/);
  });
});

describe('precise CA errors', () => {
  it('a "ca" path that is a file is named, instead of mkdir\'s EEXIST', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'airlock-ca-file-'));
    writeFileSync(join(dataDir, 'ca'), 'not a directory');
    expect(() => initCa(dataDir)).toThrow(`cannot read the CA at ${join(dataDir, 'ca', 'ca.crt')}: ${join(dataDir, 'ca')} is not a directory`);
    expect(() => loadCa(dataDir)).toThrow(/is not a directory/);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a missing ca.key says so to both start and ca init, and how to fix it, instead of "run airlock ca init" / "the CA exists"', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'airlock-ca-nokey-'));
    initCa(dataDir);
    rmSync(caPaths(dataDir).key);
    const expected = `the CA key ${caPaths(dataDir).key} is missing (its certificate ca.crt is there): restore ca.key from a backup`;
    expect(() => loadCa(dataDir)).toThrow(expected);
    expect(() => initCa(dataDir)).toThrow(expected);
    rmSync(dataDir, { recursive: true, force: true });
  });
});
