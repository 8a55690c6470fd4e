// The fakes' own SigV4 check, written separately from airlock's signer (proxy/credentials/sigv4.ts)
// from AWS's documented algorithm, so a mistake in one is not repeated in the other; both are held
// to AWS's published test vectors in test/unit/sigv4.test.ts.
import { createHash, createHmac } from 'node:crypto';

const hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const mac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

export function derivedKey(secret: string, day: string, region: string, service: string): Buffer {
  let k = mac(`AWS4${secret}`, day);
  for (const part of [region, service, 'aws4_request']) k = mac(k, part);
  return k;
}

/** RFC 3986 unreserved characters stay, every other UTF-8 byte becomes %XX. */
function enc(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`))
    .join('');
}

function dec(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export interface Signed {
  method: string;
  /** The request target as received (path and query, percent-encoded as sent). */
  target: string;
  /** Every header as received: [name, value] in order, names in any case. */
  headers: [string, string][];
  signedHeaders: string[];
  payloadHash: string;
  amzDate: string;
  region: string;
  service: string;
}

export function canonical(r: Signed): string {
  const [rawPath, rawQuery = ''] = r.target.split(/\?(.*)/s);
  const path = (rawPath || '/').split('/').map((seg) => (r.service === 's3' ? enc(dec(seg)) : enc(seg))).join('/');
  const query = rawQuery
    .split('&')
    .filter(Boolean)
    .map((kv) => {
      const i = kv.indexOf('=');
      return i < 0 ? [enc(dec(kv)), ''] : [enc(dec(kv.slice(0, i))), enc(dec(kv.slice(i + 1)))];
    })
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const byName = new Map<string, string[]>();
  for (const [k, v] of r.headers) {
    const name = k.toLowerCase();
    byName.set(name, [...(byName.get(name) ?? []), v.trim().replace(/\s+/g, ' ')]);
  }
  const names = [...r.signedHeaders].sort();
  const headerBlock = names.map((n) => `${n}:${(byName.get(n) ?? []).join(',')}\n`).join('');
  return `${r.method}\n${path}\n${query}\n${headerBlock}\n${names.join(';')}\n${r.payloadHash}`;
}

export function signatureOf(secret: string, r: Signed): string {
  const scope = `${r.amzDate.slice(0, 8)}/${r.region}/${r.service}/aws4_request`;
  const sts = `AWS4-HMAC-SHA256\n${r.amzDate}\n${scope}\n${hex(canonical(r))}`;
  return createHmac('sha256', derivedKey(secret, r.amzDate.slice(0, 8), r.region, r.service)).update(sts).digest('hex');
}

export function chunkSig(key: Buffer, amzDate: string, scope: string, previous: string, data: Buffer): string {
  return createHmac('sha256', key).update(`AWS4-HMAC-SHA256-PAYLOAD\n${amzDate}\n${scope}\n${previous}\n${hex('')}\n${hex(data)}`).digest('hex');
}

export function trailerSig(key: Buffer, amzDate: string, scope: string, previous: string, trailerLines: string): string {
  return createHmac('sha256', key).update(`AWS4-HMAC-SHA256-TRAILER\n${amzDate}\n${scope}\n${previous}\n${hex(trailerLines)}`).digest('hex');
}

export const sha256 = hex;
