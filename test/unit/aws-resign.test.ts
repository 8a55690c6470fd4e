// AWS re-signing without the network: what airlock sends is checked with the fakes' own verifier
// (test/helpers/fakes/sigv4-verify.ts) and the real secret; aws-chunked bodies keep their exact
// length and get a valid signature chain; what airlock cannot re-sign is refused with a reason.
import { describe, expect, it } from 'vitest';
import { FixedSource, type Secret } from '../../policies/secrets.ts';
import { type ChunkedMode, Frames, MAX_SIGNED_CHUNK, rechunk, unchunk } from '../../proxy/credentials/aws-chunked.ts';
import { type AwsKeys, resignAws } from '../../proxy/credentials/aws.ts';
import { chunkSig, derivedKey, sha256, signatureOf } from '../helpers/fakes/sigv4-verify.ts';

const SECRET = 'real/secret+key0123456789ABCDEFGHIJKLMNOP';
const secret = (new FixedSource('env:S', SECRET).current() as { value: Secret }).value;
const KEYS: AwsKeys = { accessKeyId: 'AKIAREAL0000000000ID', secretAccessKey: secret, sessionToken: 'session-token-REAL' };
const NOW = Date.parse('2026-01-02T03:04:05Z');
const AGENT_AUTH = 'AWS4-HMAC-SHA256 Credential=AKIAPLACEHOLDER/20260102/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date;x-amz-meta-a, Signature=' + '0'.repeat(64);

function base(headers: [string, string][], path = '/bucket/key.txt', hasBody = false, service = 's3') {
  return { method: 'PUT', path, authority: 'bucket.s3.test', headers, hasBody, region: 'us-east-1', service, now: NOW };
}

/** Does the fake S3's check pass on what airlock would send? */
function verifies(method: string, path: string, headers: [string, string][], service = 's3'): boolean {
  const auth = headers.find(([k]) => k === 'authorization')![1];
  const m = /Credential=([^/]+)\/\d{8}\/[^/]+\/[^/]+\/aws4_request, SignedHeaders=([^,]+), Signature=(\w+)/.exec(auth)!;
  expect(m[1]).toBe(KEYS.accessKeyId);
  const all: [string, string][] = [['host', 'bucket.s3.test'], ...headers];
  const payloadHash = headers.find(([k]) => k === 'x-amz-content-sha256')?.[1] ?? sha256('');
  const amzDate = headers.find(([k]) => k === 'x-amz-date')![1];
  return signatureOf(SECRET, { method, target: path, headers: all, signedHeaders: m[2].split(';'), payloadHash, amzDate, region: 'us-east-1', service }) === m[3];
}

describe('resignAws', () => {
  it("replaces the agent's signature, date and token, keeps its payload hash, and signs every x-amz-* header", () => {
    const hash = sha256('hello');
    const plan = resignAws(
      base([
        ['authorization', AGENT_AUTH],
        ['x-amz-date', '20200101T000000Z'],
        ['x-amz-security-token', 'agent-placeholder-token'],
        ['x-amz-content-sha256', hash],
        ['x-amz-meta-a', 'one'],
        ['content-type', 'text/plain'],
        ['content-length', '5'],
      ], '/bucket/key.txt', true),
      KEYS,
    );
    expect(plan.ok && plan.body).toBe('as-is');
    if (!plan.ok || plan.body !== 'as-is') return;
    const h = Object.fromEntries(plan.headers);
    expect(h['x-amz-date']).toBe('20260102T030405Z');
    expect(h['x-amz-security-token']).toBe('session-token-REAL');
    expect(h['x-amz-content-sha256']).toBe(hash);
    expect(h.authorization).toContain('SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-a;x-amz-security-token,');
    expect(plan.headers.filter(([k]) => k === 'authorization' || k === 'x-amz-date' || k === 'x-amz-security-token')).toHaveLength(3);
    expect(verifies('PUT', '/bucket/key.txt', plan.headers)).toBe(true);
  });

  it('a presigned URL loses its X-Amz-* parameters and is signed in headers; other parameters stay', () => {
    const q = 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAPLACEHOLDER%2F20260102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260102T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&versionId=3%2F4&X-Amz-Signature=abc';
    const plan = resignAws({ ...base([]), method: 'GET', path: `/bucket/key.txt?${q}` }, KEYS);
    expect(plan.ok && plan.path).toBe('/bucket/key.txt?versionId=3%2F4');
    if (plan.ok && plan.body === 'as-is') expect(verifies('GET', plan.path, plan.headers)).toBe(true);
  });

  it('a body without a hash: UNSIGNED-PAYLOAD for S3; for another service the body is hashed first', () => {
    const s3 = resignAws(base([], '/bucket/k', true), KEYS);
    expect(s3.ok && s3.body === 'as-is' && Object.fromEntries(s3.headers)['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    const sts = resignAws({ ...base([['content-type', 'application/x-www-form-urlencoded']], '/', true, 'sts'), method: 'POST' }, KEYS);
    expect(sts.ok && sts.body).toBe('hash');
    if (!sts.ok || sts.body !== 'hash') return;
    const headers = sts.sign(sha256('Action=GetCallerIdentity&Version=2011-06-15'));
    expect(headers.some(([k]) => k === 'x-amz-content-sha256')).toBe(false);
    const auth = headers.find(([k]) => k === 'authorization')![1];
    const m = /SignedHeaders=([^,]+), Signature=(\w+)/.exec(auth)!;
    const all: [string, string][] = [['host', 'bucket.s3.test'], ...headers];
    expect(signatureOf(SECRET, { method: 'POST', target: '/', headers: all, signedHeaders: m[1].split(';'), payloadHash: sha256('Action=GetCallerIdentity&Version=2011-06-15'), amzDate: '20260102T030405Z', region: 'us-east-1', service: 'sts' })).toBe(m[2]);
  });

  it.each([
    ['SigV4a', [['authorization', 'AWS4-ECDSA-P256-SHA256 Credential=x']], '/b/k', 'airlock re-signs only AWS4-HMAC-SHA256'],
    ['a presigned SigV4a URL', [], '/b/k?X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Signature=1', 'the presigned URL uses AWS4-ECDSA-P256-SHA256'],
    ['SigV4a streaming', [['x-amz-content-sha256', 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD'], ['content-encoding', 'aws-chunked']], '/b/k', 'SigV4a streaming'],
    ['an unknown payload mode', [['x-amz-content-sha256', 'WHATEVER']], '/b/k', 'not a payload mode airlock knows'],
    ['streaming without aws-chunked', [['x-amz-content-sha256', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD']], '/b/k', 'needs a body with Content-Encoding: aws-chunked'],
  ] as [string, [string, string][], string, string][])('refuses %s', (_name, headers, path, reason) => {
    const plan = resignAws(base(headers, path, true), KEYS);
    expect(plan.ok).toBe(false);
    if (!plan.ok) expect(plan.reason).toContain(reason);
  });
});

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

async function* pieces(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

/** The agent's aws-chunked body (signatures made with some other key: airlock ignores them). */
function agentBody(data: Buffer, sizes: number[], signed: boolean, trailer: string | null): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (const n of [...sizes, 0]) {
    parts.push(Buffer.from(`${n.toString(16)}${signed ? `;chunk-signature=${'a'.repeat(64)}` : ''}\r\n`), data.subarray(at, at + n));
    if (n) parts.push(Buffer.from('\r\n'));
    at += n;
  }
  if (trailer) parts.push(Buffer.from(`${trailer}\r\n${signed ? `x-amz-trailer-signature:${'b'.repeat(64)}\r\n` : ''}`));
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

describe('aws-chunked: unchunk, then rechunk with new signatures', () => {
  const data = Buffer.from('0123456789abcdef'.repeat(5000));
  const key = derivedKey(SECRET, '20260102', 'us-east-1', 's3');
  const scope = '20260102/us-east-1/s3/aws4_request';
  const signing = { key, amzDate: '20260102T030405Z', scope, seed: 'c'.repeat(64) };

  async function roundTrip(body: Buffer, mode: ChunkedMode, split: number, middle?: (b: AsyncIterable<Buffer>) => AsyncIterable<Buffer>) {
    const frames = new Frames();
    const plain = unchunk(pieces(body, split), mode, frames);
    return collect(rechunk(middle ? middle(plain) : plain, mode, frames, mode.signed ? signing : null));
  }

  it('signed: the same length, every chunk and the trailer signed in a chain from the seed', async () => {
    const body = agentBody(data, [65_536, 14_464], true, 'x-amz-checksum-crc32:AAAAAA==');
    const out = await roundTrip(body, { signed: true, trailer: true }, 7001);
    expect(out.length).toBe(body.length);
    const text = out.toString('latin1');
    const sigs = [...text.matchAll(/chunk-signature=([0-9a-f]{64})/g)].map((m) => m[1]);
    let previous = signing.seed;
    const chunks = [data.subarray(0, 65_536), data.subarray(65_536), Buffer.alloc(0)];
    chunks.forEach((c, i) => {
      previous = chunkSig(key, signing.amzDate, scope, previous, c);
      expect(sigs[i]).toBe(previous);
    });
    expect(text).toMatch(/x-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:[0-9a-f]{64}\r\n\r\n$/);
  });

  it('unsigned with a trailer: byte for byte what the agent sent, however the data is cut on the way', async () => {
    const body = agentBody(data, [8192, 8192, 63_616], false, 'x-amz-checksum-crc32:AAAAAA==');
    // A stage in between (DLP) that releases the data in other pieces.
    const regroup = async function* (src: AsyncIterable<Buffer>) {
      yield* pieces(await collect(src), 3333);
    };
    expect((await roundTrip(body, { signed: false, trailer: true }, 1000, regroup)).equals(body)).toBe(true);
  });

  it.each([
    ['a size that is not hex', Buffer.from('zz\r\nab\r\n0\r\n\r\n'), { signed: false, trailer: false }, 'a chunk size that is not hex'],
    ['an extension in an unsigned body', Buffer.from('2;x=y\r\nab\r\n0\r\n\r\n'), { signed: false, trailer: false }, 'a chunk extension in an unsigned body'],
    ['a chunk longer than its size', Buffer.from('2\r\nabc\r\n0\r\n\r\n'), { signed: false, trailer: false }, 'a chunk is longer than its size'],
    ['a body cut short', Buffer.from('2\r\nab\r\n'), { signed: false, trailer: false }, 'the body ended before its final chunk'],
    ['a signed chunk over the limit', Buffer.from(`${(MAX_SIGNED_CHUNK + 1).toString(16)};chunk-signature=${'a'.repeat(64)}\r\n`), { signed: true, trailer: false }, 'airlock re-signs chunks of up to'],
    ['a signed trailer without its signature', Buffer.from(`0;chunk-signature=${'a'.repeat(64)}\r\nx-amz-checksum-crc32:AA==\r\n\r\n`), { signed: true, trailer: true }, 'a signed trailer without x-amz-trailer-signature'],
  ] as [string, Buffer, ChunkedMode, string][])('refuses %s', async (_name, body, mode, reason) => {
    await expect(roundTrip(body, mode, 64)).rejects.toMatchObject({ code: 'aws_chunked_invalid', message: expect.stringContaining(reason) });
  });

  it('fails when the data in between no longer fills the chunk sizes', async () => {
    const body = agentBody(data.subarray(0, 100), [100], false, null);
    const shorter = async function* (src: AsyncIterable<Buffer>) {
      yield (await collect(src)).subarray(1);
    };
    await expect(roundTrip(body, { signed: false, trailer: false }, 50, shorter)).rejects.toMatchObject({ code: 'aws_chunked_invalid' });
  });
});
