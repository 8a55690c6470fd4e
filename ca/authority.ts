// The CA on disk: DATA/ca/ca.crt (0644) and DATA/ca/ca.key (0600) inside a 0700 directory.
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { caMaterial, parseCertificate, type CaMaterial } from './material.ts';
import { toPem } from './pem.ts';
import { makePrivateDir, replaceFile, writeNewFile } from './files.ts';
import { createCaCertificate } from './x509.ts';

export type { CaMaterial } from './material.ts';

export interface CaPaths {
  dir: string;
  cert: string;
  key: string;
}

export interface InitOptions {
  nameConstraints?: string[];
  commonName?: string;
}

const DEFAULT_CN = 'airlock local CA';

export function caPaths(dataDir: string): CaPaths {
  const dir = join(dataDir, 'ca');
  return { dir, cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
}

/**
 * Whether a CA file is there. Only "no such file" is false: a directory airlock may not read, or
 * a path through a file, is an error that says so (mkdir would otherwise report EEXIST).
 */
function existsSync(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    const why =
      code === 'EACCES' || code === 'EPERM'
        ? `permission denied (airlock runs as uid ${process.getuid?.() ?? '?'}; give it access to the data dir, or run it as the directory's owner)`
        : code === 'ENOTDIR'
          ? `${dirname(file)} is not a directory`
          : (code ?? (err as Error).message);
    throw new Error(`cannot read the CA at ${file}: ${why}`);
  }
}

/** The key is gone but the certificate agents trust is there: restoring the key is the fix; a new CA means re-trusting it everywhere. */
function keyMissing(paths: CaPaths): Error {
  return new Error(
    `the CA key ${paths.key} is missing (its certificate ca.crt is there): restore ca.key from a backup; ` +
      `or move ${paths.cert} away and run \`airlock ca init\` for a new CA, which every agent must then trust instead`,
  );
}

function keyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

function prepareDirs(dataDir: string): CaPaths {
  const paths = caPaths(dataDir);
  makePrivateDir(dataDir, false); // may be a directory the user chose; only tighten it if we make it
  makePrivateDir(paths.dir, true);
  return paths;
}

/** Creates an EC P-256 CA unless one exists; an existing CA is left untouched. */
export function initCa(dataDir: string, opts: InitOptions = {}): { created: boolean; certPath: string } {
  const paths = caPaths(dataDir);
  // The certificate is written last, so its presence means a complete CA (unless its key was lost since).
  if (existsSync(paths.cert)) {
    if (!existsSync(paths.key)) throw keyMissing(paths);
    return { created: false, certPath: paths.cert };
  }
  if (existsSync(paths.key)) {
    throw new Error(`incomplete CA in ${paths.dir}: ${paths.key} exists without ca.crt; remove it and run \`airlock ca init\` again`);
  }
  prepareDirs(dataDir);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const certPem = createCaCertificate(privateKey, {
    commonName: opts.commonName ?? DEFAULT_CN,
    nameConstraints: opts.nameConstraints,
  });
  writeNewFile(paths.key, keyPem(privateKey), 0o600);
  writeNewFile(paths.cert, certPem, 0o644);
  return { created: true, certPath: paths.cert };
}

function requireCa(paths: CaPaths, needKey: boolean): void {
  const cert = existsSync(paths.cert);
  if (cert && needKey && !existsSync(paths.key)) throw keyMissing(paths);
  if (!cert && existsSync(paths.key)) {
    throw new Error(`incomplete CA in ${paths.dir}: ${paths.key} exists without ca.crt; remove it and run \`airlock ca init\` again`);
  }
  if (!cert) throw new Error(`no CA in ${paths.dir}: run \`airlock ca init\` (airlock start also creates one)`);
}

function readPrivateKey(file: string): KeyObject {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read CA key ${file}: ${(err as Error).message}`);
  }
  try {
    return createPrivateKey(data);
  } catch (err) {
    // Node reports a missing passphrase differently per key format; the PEM headers are reliable.
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MISSING_PASSPHRASE' || /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(data.toString('latin1'))) {
      throw new Error(`CA key ${file} is encrypted: write a decrypted copy with \`openssl pkey -in ${file} -out ca-plain.key\``);
    }
    throw new Error(`${file} does not contain a PEM or DER private key`);
  }
}

function readCert(file: string) {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read CA certificate ${file}: ${(err as Error).message}`);
  }
  return parseCertificate(data, file);
}

/** Loads and checks the CA; refuses a key file that group or others can access. */
export function loadCa(dataDir: string): CaMaterial {
  const paths = caPaths(dataDir);
  requireCa(paths, true);
  // POSIX modes mean nothing on Windows, where ACLs decide.
  const mode = statSync(paths.key).mode & 0o777;
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new Error(
      `CA key ${paths.key} is accessible by group or others (mode ${mode.toString(8).padStart(4, '0')}): fix with \`chmod 600 ${paths.key}\``,
    );
  }
  return caMaterial(readCert(paths.cert), readPrivateKey(paths.key), paths.cert);
}

/** Installs an organisation's CA (RSA or EC). Replacing an existing CA needs `force`. */
export function importCa(
  dataDir: string,
  certFile: string,
  keyFile: string,
  opts: { force?: boolean } = {},
): { certPath: string } {
  const material = caMaterial(readCert(certFile), readPrivateKey(keyFile), certFile);
  const paths = caPaths(dataDir);
  const exists = existsSync(paths.cert) || existsSync(paths.key);
  if (exists && !opts.force) {
    throw new Error(`a CA already exists in ${paths.dir}: refusing to replace it without --force`);
  }
  prepareDirs(dataDir);
  const write = exists ? replaceFile : writeNewFile;
  write(paths.key, keyPem(material.key), 0o600);
  write(paths.cert, material.certPem, 0o644);
  return { certPath: paths.cert };
}

/** The CA certificate only (never the key), for installing into trust stores. */
export function exportCa(dataDir: string, format: 'pem' | 'der'): Buffer {
  const paths = caPaths(dataDir);
  requireCa(paths, false);
  const der = readCert(paths.cert).raw;
  return format === 'der' ? der : Buffer.from(toPem(der, 'CERTIFICATE'));
}
