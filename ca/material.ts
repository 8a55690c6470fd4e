// Validates a CA certificate + private key pair and packages it for leaf minting.
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readCertInfo } from './cert-info.ts';
import { toPem } from './pem.ts';
import { signatureAlgorithm, type CaKeyType } from './sign.ts';
import type { LeafIssuer } from './x509.ts';

export interface CaMaterial extends LeafIssuer {
  certPem: string;
  certDer: Buffer;
  key: KeyObject;
  /** DER of the CA subject Name, copied verbatim into each leaf's issuer field. */
  subjectDer: Buffer;
  ski: Buffer;
  notBefore: Date;
  notAfter: Date;
  keyType: CaKeyType;
  /** False for an imported intermediate: clients then need the CA certificate in the chain. */
  selfSigned: boolean;
}

/** Parses PEM or DER; with several PEM blocks (a chain file) the first one is the CA. */
export function parseCertificate(data: Buffer, file: string): X509Certificate {
  try {
    return new X509Certificate(data);
  } catch {
    throw new Error(`${file} does not contain a PEM or DER certificate`);
  }
}

/** `certFile` names the certificate in messages. Throws unless the pair can issue leaves now. */
export function caMaterial(cert: X509Certificate, key: KeyObject, certFile: string): CaMaterial {
  const certDer = cert.raw;
  const info = readCertInfo(certDer);
  const keyType = signatureAlgorithm(key).keyType;
  const keySpki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  if (!keySpki.equals(info.spkiDer)) {
    throw new Error(`the private key does not match the public key of the certificate ${certFile}`);
  }
  if (!info.isCa) throw new Error(`${certFile} is not a CA certificate (basicConstraints cA is not true)`);
  if (!info.canSignCerts) throw new Error(`${certFile} has a keyUsage without keyCertSign: it cannot sign certificates`);
  const now = Date.now();
  if (info.notBefore.getTime() > now) {
    throw new Error(`${certFile} is not valid yet (notBefore ${info.notBefore.toISOString()})`);
  }
  if (info.notAfter.getTime() <= now) {
    throw new Error(`${certFile} expired on ${info.notAfter.toISOString()}`);
  }
  return {
    certPem: toPem(certDer, 'CERTIFICATE'),
    certDer,
    key,
    subjectDer: info.subjectDer,
    ski: info.ski,
    notBefore: info.notBefore,
    notAfter: info.notAfter,
    keyType,
    selfSigned: info.selfSigned,
  };
}
