// Builds X.509 v3 certificates with @peculiar/asn1-x509 and signs them with node:crypto.
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { AsnConvert, AsnSerializer, OctetString, type IAsnConvertible } from '@peculiar/asn1-schema';
import {
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_nameConstraints,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_serverAuth,
} from '@peculiar/asn1-x509';
import { keyIdentifier } from './cert-info.ts';
import { ipLiteral, isHostname } from './hosts.ts';
import { buildNameConstraints } from './name-constraints.ts';
import { toPem } from './pem.ts';
import { algorithmIdentifier, signatureAlgorithm, signTbs } from './sign.ts';

const OID_CN = '2.5.4.3';
const OID_O = '2.5.4.10';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const LEAF_DAYS = 30;
const CN_MAX = 64; // ub-common-name, RFC 5280 appendix A.1

/** What minting a leaf needs from the CA; CaMaterial from authority.ts satisfies it. */
export interface LeafIssuer {
  key: KeyObject;
  subjectDer: Buffer;
  ski: Buffer;
  notAfter: Date;
}

export interface CaCertOptions {
  commonName: string;
  nameConstraints?: string[];
  validDays?: number;
}

function ext(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function rdn(type: string, value: string): RelativeDistinguishedName {
  return new RelativeDistinguishedName([
    new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: value }) }),
  ]);
}

/** 16 random bytes, top bit clear so the INTEGER is positive and first byte non-zero so DER is minimal. */
function serialNumber(): ArrayBuffer {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) || 0x01;
  return new Uint8Array(bytes).buffer;
}

function spkiOf(key: KeyObject): SubjectPublicKeyInfo {
  const pub = key.type === 'public' ? key : createPublicKey(key); // createPublicKey refuses a public KeyObject
  const der = pub.export({ type: 'spki', format: 'der' });
  return AsnConvert.parse(der, SubjectPublicKeyInfo);
}

// The proxy mints every leaf with one key: build what depends only on that key once.
const leafKeyMemo = new WeakMap<KeyObject, { spki: SubjectPublicKeyInfo; fixedExtensions: Extension[] }>();
function leafKeyInfo(key: KeyObject) {
  let info = leafKeyMemo.get(key);
  if (!info) {
    const spki = spkiOf(key);
    let usage = KeyUsageFlags.digitalSignature;
    if (key.asymmetricKeyType === 'rsa') usage |= KeyUsageFlags.keyEncipherment; // RSA key exchange
    const fixedExtensions = [
      ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
      ext(id_ce_keyUsage, true, new KeyUsage(usage)),
      ext(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_serverAuth])),
      ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyIdentifier(spki))),
    ];
    info = { spki, fixedExtensions };
    leafKeyMemo.set(key, info);
  }
  return info;
}

// Likewise per CA: its subject (the leaves' issuer) and the AKI that points at it.
const issuerMemo = new WeakMap<LeafIssuer, { subjectDer: Buffer; ski: Buffer; issuer: Name; aki: Extension }>();
function issuerInfo(ca: LeafIssuer) {
  let info = issuerMemo.get(ca);
  if (!info || info.subjectDer !== ca.subjectDer || info.ski !== ca.ski) {
    info = {
      subjectDer: ca.subjectDer,
      ski: ca.ski,
      issuer: AsnConvert.parse(ca.subjectDer, Name),
      aki: ext(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(ca.ski) })),
    };
    issuerMemo.set(ca, info);
  }
  return info;
}

function signCertificate(tbs: TBSCertificate, key: KeyObject): string {
  const alg = signatureAlgorithm(key);
  tbs.signature = algorithmIdentifier(alg);
  // Build the TBS ASN.1 tree once and hand that tree to the Certificate (asn1-schema's
  // IAsnConvertible hook) instead of walking the schema twice: ~20% of a leaf mint.
  const tbsAsn = AsnSerializer.toASN(tbs);
  const signature = signTbs(new Uint8Array(tbsAsn.toBER(false)), key, alg);
  const prebuilt: IAsnConvertible = { toASN: () => tbsAsn, fromASN: () => prebuilt, toSchema: () => tbsAsn };
  const cert = new Certificate({
    tbsCertificate: prebuilt as unknown as TBSCertificate,
    signatureAlgorithm: algorithmIdentifier(alg),
    signatureValue: new Uint8Array(signature).buffer,
  });
  return toPem(new Uint8Array(AsnConvert.serialize(cert)), 'CERTIFICATE');
}

/** Self-signed CA certificate (PEM) for a private key; its subject is "O=airlock, CN=<commonName>". */
export function createCaCertificate(key: KeyObject, opts: CaCertOptions): string {
  if (!opts.commonName || opts.commonName.length > CN_MAX) {
    throw new Error(`CA common name must be 1-${CN_MAX} characters`);
  }
  const now = Date.now();
  const validDays = opts.validDays ?? 3650;
  const spki = spkiOf(key);
  const ski = keyIdentifier(spki);
  const name = new Name([rdn(OID_O, 'airlock'), rdn(OID_CN, opts.commonName)]);

  const extensions = [
    // pathLen 0: this CA signs leaves only, never another CA.
    ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: true, pathLenConstraint: 0 })),
    ext(
      id_ce_keyUsage,
      true,
      new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign | KeyUsageFlags.digitalSignature),
    ),
    ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(ski)),
    ext(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(ski) })),
  ];
  if (opts.nameConstraints?.length) {
    // RFC 5280 4.2.1.10: conforming CAs MUST mark name constraints critical.
    extensions.push(ext(id_ce_nameConstraints, true, buildNameConstraints(opts.nameConstraints)));
  }

  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialNumber(),
    issuer: name,
    subject: name,
    validity: new Validity({ notBefore: new Date(now - HOUR), notAfter: new Date(now + validDays * DAY) }),
    subjectPublicKeyInfo: spki,
    extensions: new Extensions(extensions),
  });
  return signCertificate(tbs, key);
}

/** A leaf lives 30 days but never beyond its CA (ms since the epoch, whole seconds as encoded). */
export function leafNotAfter(caNotAfter: Date, now: number): number {
  const t = Math.min(now + LEAF_DAYS * DAY, caNotAfter.getTime());
  return t - (t % 1000);
}

/**
 * TLS server certificate (PEM) for one host name or IP literal, signed by the CA.
 * `host` must already be normalised (lower case, no trailing dot).
 */
export function createLeafCertificate(ca: LeafIssuer, leafPublicKey: KeyObject, host: string): string {
  const ip = ipLiteral(host);
  if (!ip && !isHostname(host)) throw new Error(`cannot mint a certificate for invalid host "${host}"`);
  const now = Date.now();
  const notAfter = leafNotAfter(ca.notAfter, now);
  if (notAfter <= now) throw new Error(`CA certificate expired on ${ca.notAfter.toISOString()}`);

  const leaf = leafKeyInfo(leafPublicKey);
  const { issuer, aki } = issuerInfo(ca);
  // No CN for IP literals: OpenSSL checks a CN against the CA's dNSName constraints when
  // there is no DNS SAN, so "10.0.0.1" as CN would fail under a name-constrained CA.
  const subject = ip || host.length > CN_MAX ? new Name() : new Name([rdn(OID_CN, host)]);
  const san = new SubjectAlternativeName([new GeneralName(ip ? { iPAddress: ip } : { dNSName: host })]);

  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialNumber(),
    issuer,
    subject,
    validity: new Validity({ notBefore: new Date(now - HOUR), notAfter: new Date(notAfter) }),
    subjectPublicKeyInfo: leaf.spki,
    extensions: new Extensions([
      ...leaf.fixedExtensions,
      // RFC 5280 4.2.1.6: with an empty subject the SAN must be critical.
      ext(id_ce_subjectAltName, subject.length === 0, san),
      aki,
    ]),
  });
  return signCertificate(tbs, ca.key);
}
