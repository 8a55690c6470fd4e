// AWS SigV4 re-signing. The agent signs with placeholder credentials; airlock verifies nothing of
// that signature, removes it (Authorization, X-Amz-Date, X-Amz-Security-Token, presigned X-Amz-*
// query parameters) and signs the request again with the real key for the rule's service and
// region. The payload keeps the mode the agent chose: a hex SHA-256 (S3 checks it against the
// body), UNSIGNED-PAYLOAD, or aws-chunked streaming (each chunk re-signed: aws-chunked.ts). When the
// agent sent no hash (services other than S3), airlock reads the body (up to max_signed_body) to
// hash it. SigV4a (ECDSA) is refused: it cannot be re-signed with an HMAC key.
import type { Secret } from '../../policies/secrets.ts';
import type { ChunkedMode, ChunkSigning } from './aws-chunked.ts';
import { ALGORITHM, amzDateOf, EMPTY_SHA256, parseAuthorization, queryPairs, sign, signingKey, uriDecode } from './sigv4.ts';

export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: Secret;
  sessionToken?: string;
}

export interface AwsRequest {
  method: string;
  /** Path and query as they will be sent. */
  path: string;
  /** The Host header airlock sends. */
  authority: string;
  /** The agent's headers (lower-case names, hop-by-hop removed). */
  headers: [string, string][];
  hasBody: boolean;
  region: string;
  service: string;
  now: number;
}

export type AwsPlan =
  | { ok: true; path: string; body: 'as-is'; headers: [string, string][] }
  | { ok: true; path: string; body: 'chunked'; headers: [string, string][]; mode: ChunkedMode; signing: ChunkSigning | null }
  /** The payload must be hashed first: sign(hash) gives the headers. */
  | { ok: true; path: string; body: 'hash'; sign: (payloadHash: string) => [string, string][] }
  | { ok: false; reason: string };

/** Headers the agent's signature put there; airlock sets its own. */
const REPLACED = new Set(['authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256']);
const PRESIGN = new Set(['x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-expires', 'x-amz-signedheaders', 'x-amz-signature', 'x-amz-security-token']);
/** Signed besides host and every x-amz-* header: what S3 and the SDKs expect to be covered. */
const ALWAYS_SIGNED = new Set(['content-type', 'content-md5', 'content-encoding']);
/** Never signed: airlock (or undici) may set or drop them on the way. */
const NEVER_SIGNED = new Set(['content-length', 'expect', 'transfer-encoding', 'connection', 'authorization']);

const CHUNKED_MODES: Record<string, ChunkedMode> = {
  'STREAMING-UNSIGNED-PAYLOAD-TRAILER': { signed: false, trailer: true },
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD': { signed: true, trailer: false },
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER': { signed: true, trailer: true },
};

export function resignAws(req: AwsRequest, keys: AwsKeys): AwsPlan {
  const agentAuth = req.headers.find(([k]) => k === 'authorization')?.[1];
  const parsed = agentAuth === undefined ? undefined : parseAuthorization(agentAuth);
  if (parsed && parsed.algorithm !== ALGORITHM) {
    return { ok: false, reason: `the request is signed with ${parsed.algorithm.slice(0, 40) || 'an unknown scheme'}; airlock re-signs only ${ALGORITHM} (SigV4a and other schemes are refused)` };
  }
  const q = req.path.indexOf('?');
  const pathOnly = q < 0 ? req.path : req.path.slice(0, q);
  const rawQuery = q < 0 ? '' : req.path.slice(q + 1);
  // A presigned URL: its signature parameters go, the request is signed in headers instead.
  const kept = rawQuery === '' ? [] : rawQuery.split('&').filter((p) => !PRESIGN.has(uriDecode(p.split('=')[0] ?? '').toLowerCase()));
  const algo = queryPairs(rawQuery).find(([k]) => k.toLowerCase() === 'x-amz-algorithm')?.[1];
  if (algo !== undefined && algo !== ALGORITHM) return { ok: false, reason: `the presigned URL uses ${algo.slice(0, 40)}; airlock re-signs only ${ALGORITHM}` };
  const path = kept.length ? `${pathOnly}?${kept.join('&')}` : pathOnly;

  const agentHash = req.headers.find(([k]) => k === 'x-amz-content-sha256')?.[1]?.trim();
  const amzDate = amzDateOf(req.now);
  const key = keyFor(keys.secretAccessKey, amzDate.slice(0, 8), req.region, req.service);
  const base: [string, string][] = req.headers.filter(([k]) => !REPLACED.has(k));
  base.push(['x-amz-date', amzDate]);
  if (keys.sessionToken) base.push(['x-amz-security-token', keys.sessionToken]);
  const agentSigned = new Set(parsed?.signedHeaders ?? []);

  const signWith = (payloadHash: string, sendHash: boolean) => {
    const headers: [string, string][] = sendHash ? [...base, ['x-amz-content-sha256', payloadHash]] : [...base];
    const all: [string, string][] = [['host', req.authority], ...headers];
    const signed = all.map(([k]) => k).filter((k) => !NEVER_SIGNED.has(k) && (k === 'host' || k.startsWith('x-amz-') || ALWAYS_SIGNED.has(k) || agentSigned.has(k)));
    const s = sign({ method: req.method, path: pathOnly, query: queryPairs(kept.join('&')), headers: all, signed, payloadHash, amzDate, region: req.region, service: req.service }, keys.accessKeyId, key);
    headers.push(['authorization', s.authorization]);
    return { headers, s };
  };

  if (agentHash === undefined) {
    if (!req.hasBody) return { ok: true, path, body: 'as-is', headers: signWith(EMPTY_SHA256, req.service === 's3').headers };
    // S3 takes an unsigned payload (TLS protects it); other services need the body's hash.
    if (req.service === 's3') return { ok: true, path, body: 'as-is', headers: signWith('UNSIGNED-PAYLOAD', true).headers };
    return { ok: true, path, body: 'hash', sign: (hash) => signWith(hash, false).headers };
  }
  if (/^[0-9a-fA-F]{64}$/.test(agentHash) || agentHash === 'UNSIGNED-PAYLOAD') {
    return { ok: true, path, body: 'as-is', headers: signWith(agentHash === 'UNSIGNED-PAYLOAD' ? agentHash : agentHash.toLowerCase(), true).headers };
  }
  const mode = CHUNKED_MODES[agentHash];
  if (!mode) {
    const sigv4a = agentHash.startsWith('STREAMING-AWS4-ECDSA');
    return { ok: false, reason: sigv4a ? `x-amz-content-sha256: ${agentHash.slice(0, 60)} is SigV4a streaming, which airlock cannot re-sign` : `x-amz-content-sha256: ${agentHash.slice(0, 60)} is not a payload mode airlock knows` };
  }
  const coding = req.headers.find(([k]) => k === 'content-encoding')?.[1] ?? '';
  if (!req.hasBody || coding.split(',')[0].trim().toLowerCase() !== 'aws-chunked') {
    return { ok: false, reason: `x-amz-content-sha256: ${agentHash} needs a body with Content-Encoding: aws-chunked` };
  }
  const { headers, s } = signWith(agentHash, true);
  return { ok: true, path, body: 'chunked', headers, mode, signing: mode.signed ? { key, amzDate, scope: s.scope, seed: s.signature } : null };
}

const keyCache = new WeakMap<Secret, { at: string; key: Buffer }>();

/** The derived key changes once a day: computed once per day, region and service for each secret. */
function keyFor(secret: Secret, date: string, region: string, service: string): Buffer {
  const at = `${date}/${region}/${service}`;
  const hit = keyCache.get(secret);
  if (hit?.at === at) return hit.key;
  const key = signingKey(secret.reveal(), date, region, service);
  keyCache.set(secret, { at, key });
  return key;
}
