// Picks the X.509 signature algorithm for a CA key and signs TBS bytes synchronously.
import { sign, type KeyObject } from 'node:crypto';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';

export type CaKeyType = 'ec' | 'rsa';

interface SigAlg {
  keyType: CaKeyType;
  hash: 'sha256' | 'sha384' | 'sha512';
  oid: string;
}

// Hash strength matches the curve (RFC 5480 section 4); RSA keys get SHA-256.
const EC_ALGS: Record<string, SigAlg> = {
  prime256v1: { keyType: 'ec', hash: 'sha256', oid: '1.2.840.10045.4.3.2' },
  secp384r1: { keyType: 'ec', hash: 'sha384', oid: '1.2.840.10045.4.3.3' },
  secp521r1: { keyType: 'ec', hash: 'sha512', oid: '1.2.840.10045.4.3.4' },
};
const RSA_SHA256: SigAlg = { keyType: 'rsa', hash: 'sha256', oid: '1.2.840.113549.1.1.11' };

/** Throws for key types we cannot sign certificates with (RSA-PSS, Ed25519, other curves). */
export function signatureAlgorithm(key: KeyObject): SigAlg {
  if (key.asymmetricKeyType === 'rsa') return RSA_SHA256;
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? 'unknown';
    const alg = EC_ALGS[curve];
    if (alg) return alg;
    throw new Error(`unsupported CA key curve ${curve}: use P-256, P-384 or P-521`);
  }
  throw new Error(`unsupported CA key type ${key.asymmetricKeyType ?? 'unknown'}: use EC or RSA`);
}

export function algorithmIdentifier(alg: SigAlg): AlgorithmIdentifier {
  // RFC 4055: RSA PKCS#1 identifiers carry an explicit NULL; RFC 5758: ECDSA ones carry nothing.
  return alg.keyType === 'rsa'
    ? new AlgorithmIdentifier({ algorithm: alg.oid, parameters: null })
    : new AlgorithmIdentifier({ algorithm: alg.oid });
}

/** ECDSA comes out DER-encoded (node's default), RSA as PKCS#1 v1.5 (node's default padding). */
export function signTbs(tbsDer: Uint8Array, key: KeyObject, alg: SigAlg): Buffer {
  return sign(alg.hash, tbsDer, key);
}
