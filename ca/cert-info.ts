// Reads what leaf minting and import checks need from a CA certificate's DER.
import { createHash } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  BasicConstraints,
  Certificate,
  KeyUsage,
  KeyUsageFlags,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  id_ce_basicConstraints,
  id_ce_keyUsage,
  id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';

export interface CertInfo {
  /** The subject Name's DER, reused byte for byte as the issuer of every leaf. */
  subjectDer: Buffer;
  ski: Buffer;
  notBefore: Date;
  notAfter: Date;
  isCa: boolean;
  /** False when a keyUsage extension is present without keyCertSign. */
  canSignCerts: boolean;
  selfSigned: boolean;
  spkiDer: Buffer;
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents. */
export function keyIdentifier(spki: SubjectPublicKeyInfo): Buffer {
  return createHash('sha1').update(Buffer.from(spki.subjectPublicKey)).digest();
}

export function readCertInfo(certDer: Uint8Array): CertInfo {
  const cert = AsnConvert.parse(certDer, Certificate);
  const tbs = cert.tbsCertificate;
  const subjectDer = Buffer.from(AsnConvert.serialize(tbs.subject));
  // Re-encoding must reproduce the original bytes, or leaves would name an issuer that
  // strict clients fail to match against the CA (e.g. a BER-encoded or odd-string subject).
  const tbsRaw = cert.tbsCertificateRaw ? Buffer.from(cert.tbsCertificateRaw) : Buffer.alloc(0);
  if (!tbsRaw.includes(subjectDer)) {
    throw new Error('CA certificate subject is not DER-encoded; cannot reproduce it as leaf issuer');
  }
  const issuerDer = Buffer.from(AsnConvert.serialize(tbs.issuer));

  let ski: Buffer | undefined;
  let isCa = false;
  let canSignCerts = true;
  for (const ext of tbs.extensions ?? []) {
    const value = ext.extnValue.buffer;
    if (ext.extnID === id_ce_subjectKeyIdentifier) {
      ski = Buffer.from(AsnConvert.parse(value, SubjectKeyIdentifier).buffer);
    } else if (ext.extnID === id_ce_basicConstraints) {
      isCa = AsnConvert.parse(value, BasicConstraints).cA;
    } else if (ext.extnID === id_ce_keyUsage) {
      canSignCerts = (AsnConvert.parse(value, KeyUsage).toNumber() & KeyUsageFlags.keyCertSign) !== 0;
    }
  }
  return {
    subjectDer,
    ski: ski ?? keyIdentifier(tbs.subjectPublicKeyInfo),
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    isCa,
    canSignCerts,
    selfSigned: issuerDer.equals(subjectDer),
    spkiDer: Buffer.from(AsnConvert.serialize(tbs.subjectPublicKeyInfo)),
  };
}
