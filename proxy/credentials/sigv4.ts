// AWS Signature Version 4 (AWS4-HMAC-SHA256), written from AWS's documented algorithm: the
// canonical request, the string to sign, the derived signing key, and the chained signatures of
// aws-chunked bodies and their trailers. Pure functions; test/unit/sigv4.test.ts checks them
// against AWS's published test vectors.
import { createHash, createHmac } from 'node:crypto';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

/** RFC 3986 percent-encoding of everything but the unreserved characters (and "/" when asked). */
export function uriEncode(s: string, keepSlash = false): string {
  if (UNRESERVED_ONLY.test(s)) return s;
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) out += keepSlash && byte === 0x2f ? '/' : ENCODED[byte];
  return out;
}

const UNRESERVED_ONLY = /^[A-Za-z0-9\-._~]*$/;
const ENCODED = Array.from({ length: 256 }, (_, b) => {
  const c = String.fromCharCode(b);
  return /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
});

/** Percent-decoding that leaves a malformed escape as it is (a path is never refused for it here). */
export function uriDecode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  }
}

/**
 * The canonical URI of a request-line path. S3 encodes the (decoded) path once; every other
 * service encodes the path as sent once more ("double encoding"), as AWS's SDKs do.
 */
export function canonicalUri(wirePath: string, service: string): string {
  const path = wirePath === '' ? '/' : wirePath;
  if (service === 's3') return path.split('/').map((seg) => uriEncode(uriDecode(seg))).join('/');
  return path.split('/').map((seg) => uriEncode(seg)).join('/');
}

/** The query's parameters as sent (decoded; "+" is kept as "+"), in order. */
export function queryPairs(rawQuery: string): [string, string][] {
  if (rawQuery === '') return [];
  return rawQuery.split('&').filter((p) => p !== '').map((p) => {
    const eq = p.indexOf('=');
    return eq < 0 ? [uriDecode(p), ''] : [uriDecode(p.slice(0, eq)), uriDecode(p.slice(eq + 1))];
  });
}

/** Parameters encoded, sorted by name then value, joined with "&". */
export function canonicalQuery(pairs: readonly [string, string][]): string {
  return pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/** A header value as signed: trimmed, runs of spaces collapsed to one. */
function canonicalValue(v: string): string {
  return v.trim().replace(/\s+/g, ' ');
}

export interface SignInput {
  method: string;
  /** The path as on the request line, without the query. */
  path: string;
  /** The query parameters (decoded). */
  query: readonly [string, string][];
  /** Lower-case names; several values of one name are joined with "," in order. */
  headers: readonly [string, string][];
  /** Names to sign (lower-case); each must be in `headers`. */
  signed: readonly string[];
  payloadHash: string;
  /** YYYYMMDD'T'HHMMSS'Z' */
  amzDate: string;
  region: string;
  service: string;
}

export function canonicalRequest(i: SignInput): { text: string; signedHeaders: string } {
  const names = [...new Set(i.signed)].sort();
  const lines = names.map((n) => `${n}:${i.headers.filter(([k]) => k === n).map(([, v]) => canonicalValue(v)).join(',')}\n`);
  const signedHeaders = names.join(';');
  const text = [i.method, canonicalUri(i.path, i.service), canonicalQuery(i.query), lines.join(''), signedHeaders, i.payloadHash].join('\n');
  return { text, signedHeaders };
}

export function scopeOf(amzDate: string, region: string, service: string): string {
  return `${amzDate.slice(0, 8)}/${region}/${service}/aws4_request`;
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
}

export interface Signature {
  signature: string;
  signedHeaders: string;
  scope: string;
  authorization: string;
}

/** Signs `i` with `key` (signingKey() for the same date, region and service). */
export function sign(i: SignInput, accessKeyId: string, key: Buffer): Signature {
  const { text, signedHeaders } = canonicalRequest(i);
  const scope = scopeOf(i.amzDate, i.region, i.service);
  const signature = createHmac('sha256', key).update(stringToSign(i.amzDate, scope, text)).digest('hex');
  return { signature, signedHeaders, scope, authorization: `${ALGORITHM} Credential=${accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}` };
}

/** The signature of one aws-chunked chunk, chained to the previous one (the seed: the request's). */
export function chunkSignature(key: Buffer, amzDate: string, scope: string, previous: string, data: Buffer): string {
  const sts = `${ALGORITHM}-PAYLOAD\n${amzDate}\n${scope}\n${previous}\n${EMPTY_SHA256}\n${sha256Hex(data)}`;
  return createHmac('sha256', key).update(sts).digest('hex');
}

/** The signature of an aws-chunked body's trailing headers ("name:value\n" each). */
export function trailerSignature(key: Buffer, amzDate: string, scope: string, previous: string, trailer: string): string {
  const sts = `${ALGORITHM}-TRAILER\n${amzDate}\n${scope}\n${previous}\n${sha256Hex(trailer)}`;
  return createHmac('sha256', key).update(sts).digest('hex');
}

/** "20150830T123600Z" for a time. */
export function amzDateOf(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** The parts of an `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` header. */
export function parseAuthorization(value: string): { algorithm: string; credential?: string; signedHeaders?: string[]; signature?: string } {
  const m = /^(\S+)\s*(.*)$/.exec(value.trim());
  if (!m) return { algorithm: '' };
  const out: ReturnType<typeof parseAuthorization> = { algorithm: m[1] };
  for (const part of m[2].split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === 'Credential') out.credential = v;
    else if (k === 'SignedHeaders') out.signedHeaders = v.split(';').filter(Boolean);
    else if (k === 'Signature') out.signature = v;
  }
  return out;
}
