// A small S3-compatible server (and STS GetCallerIdentity, a service without x-amz-content-sha256) that checks every request's SigV4 signature with the real secret
// (test/helpers/fakes/sigv4-verify.ts), the payload against x-amz-content-sha256, every aws-chunked
// chunk and trailer signature, and CRC32 trailers. Objects live in memory. Refusals look like S3's,
// including the access key id, the string to sign and the canonical request S3 echoes back.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { canonical, chunkSig, derivedKey, sha256, signatureOf, trailerSig } from './sigv4-verify.ts';

export interface FakeS3Options {
  tls: { cert: string; key: string };
  host: string;
  accessKeyId: string;
  secret: string;
  sessionToken?: string;
  region: string;
}

export interface S3Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  /** null when the request was accepted. */
  refused: string | null;
}

export interface FakeS3 {
  port: number;
  objects: Map<string, Buffer>;
  seen: S3Seen[];
  close(): Promise<void>;
}

class Refused extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly extra = '',
  ) {
    super(code);
  }
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export async function startFakeS3(o: FakeS3Options): Promise<FakeS3> {
  const objects = new Map<string, Buffer>();
  const seen: S3Seen[] = [];
  const server = https.createServer({ cert: o.tls.cert, key: o.tls.key }, (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const entry: S3Seen = { method: req.method!, url: req.url!, headers: req.headers, refused: null };
      seen.push(entry);
      try {
        const body = verify(req, Buffer.concat(parts), o);
        serve(req, res, body, objects);
      } catch (err) {
        if (!(err instanceof Refused)) throw err;
        entry.refused = err.code;
        res.writeHead(err.status, { 'content-type': 'application/xml', 'x-amz-request-id': 'fake' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${err.code}</Code><Message>${err.code}</Message>${err.extra}<RequestId>fake</RequestId></Error>`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(443, o.host, r));
  return {
    port: (server.address() as AddressInfo).port,
    objects,
    seen,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

function pairs(req: IncomingMessage): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) out.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
  return out;
}

/** The request's payload (aws-chunked decoded) once every signature checks out. */
function verify(req: IncomingMessage, body: Buffer, o: FakeS3Options): Buffer {
  const auth = req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) throw new Refused(403, 'AccessDenied');
  const [, id, day, region, service, signedList, signature] = m;
  if (id !== o.accessKeyId) throw new Refused(403, 'InvalidAccessKeyId', `<AWSAccessKeyId>${xml(id)}</AWSAccessKeyId>`);
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const when = Date.parse(amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
  if (region !== o.region || !['s3', 'sts'].includes(service) || amzDate.slice(0, 8) !== day || !(Math.abs(Date.now() - when) < 15 * 60_000)) {
    throw new Refused(403, 'RequestTimeTooSkewedOrWrongScope');
  }
  const signed = signedList.split(';');
  const amzHeaders = Object.keys(req.headers).filter((k) => k.startsWith('x-amz-'));
  if (!signed.includes('host') || amzHeaders.some((k) => !signed.includes(k))) throw new Refused(403, 'AccessDenied', '<Detail>host and every x-amz-* header must be signed</Detail>');
  if (o.sessionToken !== undefined ? req.headers['x-amz-security-token'] !== o.sessionToken : req.headers['x-amz-security-token'] !== undefined) {
    throw new Refused(403, 'InvalidToken');
  }
  // S3 names the payload's hash in a header; other services (STS here) sign the body's hash as such.
  const payloadHash = service === 's3' ? String(req.headers['x-amz-content-sha256'] ?? '') : sha256(body);
  if (!payloadHash) throw new Refused(400, 'MissingSecurityHeader');
  const r = { method: req.method!, target: req.url!, headers: pairs(req), signedHeaders: signed, payloadHash, amzDate, region, service };
  if (signatureOf(o.secret, r) !== signature) {
    const scope = `${day}/${region}/${service}/aws4_request`;
    const text = canonical(r);
    throw new Refused(403, 'SignatureDoesNotMatch', `<AWSAccessKeyId>${xml(id)}</AWSAccessKeyId><StringToSign>${xml(`AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256(text)}`)}</StringToSign><CanonicalRequest>${xml(text)}</CanonicalRequest>`);
  }
  if (/^[0-9a-f]{64}$/.test(payloadHash)) {
    if (sha256(body) !== payloadHash) throw new Refused(400, 'XAmzContentSHA256Mismatch');
    return body;
  }
  if (payloadHash === 'UNSIGNED-PAYLOAD') return body;
  const modes: Record<string, { signed: boolean; trailer: boolean }> = {
    'STREAMING-UNSIGNED-PAYLOAD-TRAILER': { signed: false, trailer: true },
    'STREAMING-AWS4-HMAC-SHA256-PAYLOAD': { signed: true, trailer: false },
    'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER': { signed: true, trailer: true },
  };
  const mode = modes[payloadHash];
  if (!mode) throw new Refused(400, 'InvalidArgument');
  const key = derivedKey(o.secret, day, region, service);
  const decoded = decodeChunked(body, mode, key, amzDate, `${day}/${region}/${service}/aws4_request`, signature);
  if (String(decoded.data.length) !== req.headers['x-amz-decoded-content-length']) throw new Refused(400, 'IncompleteBody');
  const crc = decoded.trailers.get('x-amz-checksum-crc32');
  if (crc !== undefined) {
    const want = Buffer.alloc(4);
    want.writeUInt32BE(zlib.crc32(decoded.data));
    if (want.toString('base64') !== crc) throw new Refused(400, 'BadDigest');
  }
  return decoded.data;
}

function decodeChunked(body: Buffer, mode: { signed: boolean; trailer: boolean }, key: Buffer, amzDate: string, scope: string, seed: string) {
  let at = 0;
  let previous = seed;
  const data: Buffer[] = [];
  const line = () => {
    const end = body.indexOf('\r\n', at);
    if (end < 0) throw new Refused(400, 'IncompleteBody');
    const text = body.subarray(at, end).toString('latin1');
    at = end + 2;
    return text;
  };
  for (;;) {
    const [size, ext] = line().split(';');
    const n = parseInt(size, 16);
    const chunk = body.subarray(at, at + n);
    if (mode.signed) {
      const sig = /^chunk-signature=([0-9a-f]{64})$/.exec(ext ?? '')?.[1];
      previous = chunkSig(key, amzDate, scope, previous, chunk);
      if (sig !== previous) throw new Refused(403, 'SignatureDoesNotMatch', '<Detail>chunk signature</Detail>');
    } else if (ext !== undefined) throw new Refused(400, 'InvalidChunkExtension');
    at += n;
    if (n === 0) break;
    data.push(chunk);
    if (line() !== '') throw new Refused(400, 'IncompleteBody');
  }
  const trailers = new Map<string, string>();
  let signedTrailer: string | undefined;
  let canonicalTrailer = '';
  for (let l = line(); l !== ''; l = line()) {
    const i = l.indexOf(':');
    const name = l.slice(0, i).trim().toLowerCase();
    const value = l.slice(i + 1).trim();
    if (name === 'x-amz-trailer-signature') signedTrailer = value;
    else {
      trailers.set(name, value);
      canonicalTrailer += `${name}:${value}\n`;
    }
  }
  if (at !== body.length) throw new Refused(400, 'IncompleteBody');
  if (mode.signed && mode.trailer && trailerSig(key, amzDate, scope, previous, canonicalTrailer) !== signedTrailer) {
    throw new Refused(403, 'SignatureDoesNotMatch', '<Detail>trailer signature</Detail>');
  }
  return { data: Buffer.concat(data), trailers };
}

function serve(req: IncomingMessage, res: ServerResponse, body: Buffer, objects: Map<string, Buffer>): void {
  if (/^sts\./.test(req.headers.host ?? '')) {
    const action = new URLSearchParams(body.toString()).get('Action');
    res.writeHead(action === 'GetCallerIdentity' ? 200 : 400, { 'content-type': 'text/xml' });
    return void res.end(`<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/agent</Arn><Account>123456789012</Account></GetCallerIdentityResult><Action>${xml(String(action))}</Action></GetCallerIdentityResponse>`);
  }
  const url = new URL(req.url!, 'https://s3.invalid');
  const [, bucket, ...rest] = url.pathname.split('/');
  const key = decodeURIComponent(rest.join('/'));
  if (req.method === 'PUT' && key) {
    objects.set(`${bucket}/${key}`, body);
    res.writeHead(200, { etag: `"${sha256(body).slice(0, 32)}"` });
    return void res.end();
  }
  if (req.method === 'GET' && !key) {
    const keys = [...objects.keys()].filter((k) => k.startsWith(`${bucket}/`)).map((k) => k.slice(bucket.length + 1));
    const contents = keys.map((k) => `<Contents><Key>${xml(k)}</Key><Size>${objects.get(`${bucket}/${k}`)!.length}</Size><ETag>"x"</ETag><StorageClass>STANDARD</StorageClass></Contents>`).join('');
    res.writeHead(200, { 'content-type': 'application/xml' });
    return void res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult><Name>${xml(bucket)}</Name><Prefix></Prefix><KeyCount>${keys.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`);
  }
  if (req.method === 'GET') {
    const obj = objects.get(`${bucket}/${key}`);
    if (!obj) {
      res.writeHead(404, { 'content-type': 'application/xml' });
      return void res.end('<Error><Code>NoSuchKey</Code></Error>');
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': obj.length });
    return void res.end(obj);
  }
  res.writeHead(400, { 'content-type': 'application/xml' });
  res.end('<Error><Code>NotImplemented</Code></Error>');
}
