// airlock's SigV4 signer (proxy/credentials/sigv4.ts) against AWS's published test vectors: the
// Signature Version 4 test suite (credentials AKIDEXAMPLE, 2015-08-30T12:36:00Z, us-east-1,
// service "service"), S3's GET Object example, and S3's streaming examples (aws-chunked chunk and
// trailer signatures). The fake S3 in test/helpers/fake-s3.ts verifies with the same code, so these
// vectors are what keep both honest.
import { describe, expect, it } from 'vitest';
import {
  canonicalRequest,
  chunkSignature,
  EMPTY_SHA256,
  queryPairs,
  sha256Hex,
  sign,
  signingKey,
  scopeOf,
  trailerSignature,
  parseAuthorization,
} from '../../proxy/credentials/sigv4.ts';

const SUITE = { id: 'AKIDEXAMPLE', secret: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', date: '20150830T123600Z', region: 'us-east-1', service: 'service' };
const HOST = 'example.amazonaws.com';

type Vector = [name: string, method: string, path: string, query: [string, string][], extra: [string, string][], signed: string, signature: string];

// From the suite: name, request, and the expected SignedHeaders and Signature.
const VECTORS: Vector[] = [
  ['get-vanilla', 'GET', '/', [], [], 'host;x-amz-date', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'],
  ['get-vanilla-empty-query-key', 'GET', '/', [['Param1', 'value1']], [], 'host;x-amz-date', 'a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb'],
  ['get-vanilla-query-order-key-case', 'GET', '/', [['Param2', 'value2'], ['Param1', 'value1']], [], 'host;x-amz-date', 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500'],
  [
    'get-vanilla-query-unreserved', 'GET', '/',
    [['-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', '-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz']],
    [], 'host;x-amz-date', '9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197',
  ],
  ['get-vanilla-utf8-query', 'GET', '/', [['ሴ', 'bar']], [], 'host;x-amz-date', '2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04'],
  ['get-unreserved', 'GET', '/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', [], [], 'host;x-amz-date', '07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f'],
  ['get-utf8', 'GET', '/ሴ', [], [], 'host;x-amz-date', '8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85'],
  ['get-header-key-duplicate', 'GET', '/', [], [['my-header1', 'value2,value2,value1']], 'host;my-header1;x-amz-date', 'c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea'],
  ['get-header-value-order', 'GET', '/', [], [['my-header1', 'value4,value1,value3,value2']], 'host;my-header1;x-amz-date', '08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01'],
  ['get-header-value-trim', 'GET', '/', [], [['my-header1', 'value1'], ['my-header2', '"a   b   c"']], 'host;my-header1;my-header2;x-amz-date', 'acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736'],
  ['post-vanilla', 'POST', '/', [], [], 'host;x-amz-date', '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b'],
  ['post-vanilla-query', 'POST', '/', [['Param1', 'value1']], [], 'host;x-amz-date', '28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11'],
  ['post-vanilla-query-nonunreserved', 'POST', '/', [['@#$%^', ''], ['+', '/,?><`";:\\|][{}']], [], 'host;x-amz-date', '66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e'],
  ['post-vanilla-query-space', 'POST', '/', [['p', '']], [], 'host;x-amz-date', 'e71688addb58a26418614085fb730ba3faa623b461c17f48f2fbdb9361b94a9b'],
  ['post-header-key-sort', 'POST', '/', [], [['my-header1', 'value1']], 'host;my-header1;x-amz-date', 'c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c'],
  ['post-header-value-case', 'POST', '/', [], [['my-header1', 'VALUE1']], 'host;my-header1;x-amz-date', 'cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d'],
  [
    'post-sts-header-before', 'POST', '/', [],
    [['x-amz-security-token', 'AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==']],
    'host;x-amz-date;x-amz-security-token', '85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead',
  ],
];

describe('SigV4 test suite', () => {
  const key = signingKey(SUITE.secret, SUITE.date.slice(0, 8), SUITE.region, SUITE.service);
  it.each(VECTORS)('%s', (_name, method, path, query, extra, signed, signature) => {
    const headers: [string, string][] = [['host', HOST], ['x-amz-date', SUITE.date], ...extra];
    const s = sign(
      { method, path, query, headers, signed: signed.split(';'), payloadHash: EMPTY_SHA256, amzDate: SUITE.date, region: SUITE.region, service: SUITE.service },
      SUITE.id,
      key,
    );
    expect(s.authorization).toBe(`AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=${signed}, Signature=${signature}`);
  });

  it('post-x-www-form-urlencoded: the body is in the payload hash', () => {
    const headers: [string, string][] = [['content-type', 'application/x-www-form-urlencoded'], ['host', HOST], ['x-amz-date', SUITE.date]];
    const s = sign(
      { method: 'POST', path: '/', query: [], headers, signed: ['content-type', 'host', 'x-amz-date'], payloadHash: sha256Hex('Param1=value1'), amzDate: SUITE.date, region: SUITE.region, service: SUITE.service },
      SUITE.id,
      key,
    );
    expect(s.signature).toBe('ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a');
  });
});

// S3's documented examples: access key AKIAIOSFODNN7EXAMPLE, secret below, 2013-05-24, us-east-1, s3.
const S3 = { id: 'AKIAIOSFODNN7EXAMPLE', secret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', date: '20130524T000000Z' };

describe('S3 examples', () => {
  const key = signingKey(S3.secret, '20130524', 'us-east-1', 's3');

  it('GET Object with a Range (header-signed, empty payload hash)', () => {
    const headers: [string, string][] = [['host', 'examplebucket.s3.amazonaws.com'], ['range', 'bytes=0-9'], ['x-amz-content-sha256', EMPTY_SHA256], ['x-amz-date', S3.date]];
    const input = { method: 'GET', path: '/test.txt', query: [], headers, signed: headers.map(([k]) => k), payloadHash: EMPTY_SHA256, amzDate: S3.date, region: 'us-east-1', service: 's3' };
    expect(sha256Hex(canonicalRequest(input).text)).toBe('7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972');
    expect(sign(input, S3.id, key).signature).toBe('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
  });

  it('PUT in aws-chunked chunks: seed, two data chunks and the final chunk', () => {
    const headers: [string, string][] = [
      ['content-encoding', 'aws-chunked'],
      ['content-length', '66824'],
      ['host', 's3.amazonaws.com'],
      ['x-amz-content-sha256', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'],
      ['x-amz-date', S3.date],
      ['x-amz-decoded-content-length', '66560'],
      ['x-amz-storage-class', 'REDUCED_REDUNDANCY'],
    ];
    const seed = sign(
      { method: 'PUT', path: '/examplebucket/chunkObject.txt', query: [], headers, signed: headers.map(([k]) => k), payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', amzDate: S3.date, region: 'us-east-1', service: 's3' },
      S3.id,
      key,
    ).signature;
    expect(seed).toBe('4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9');
    const scope = scopeOf(S3.date, 'us-east-1', 's3');
    const one = chunkSignature(key, S3.date, scope, seed, Buffer.alloc(65536, 'a'));
    expect(one).toBe('ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648');
    const two = chunkSignature(key, S3.date, scope, one, Buffer.alloc(1024, 'a'));
    expect(two).toBe('0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497');
    expect(chunkSignature(key, S3.date, scope, two, Buffer.alloc(0))).toBe('b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9');
  });

  it('the trailer of an aws-chunked body with a signed trailer', () => {
    const scope = scopeOf(S3.date, 'us-east-1', 's3');
    const previous = 'e05ab64fe1dfdbf0b5870abbaabdb063c371d4e96f2767e6934d90529c5ae850';
    expect(trailerSignature(key, S3.date, scope, previous, 'x-amz-checksum-crc32c:wdBDMA==\n')).toBe('41e14ac611e27a8bb3d66c3bad6856f209297767d5dd4fc87d8fa9e422e03faf');
  });
});

describe('helpers', () => {
  it('reads a query as sent', () => {
    expect(queryPairs('list-type=2&prefix=a%2Fb&flag')).toEqual([['list-type', '2'], ['prefix', 'a/b'], ['flag', '']]);
  });
  it('reads an Authorization header', () => {
    expect(parseAuthorization('AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc')).toEqual({
      algorithm: 'AWS4-HMAC-SHA256',
      credential: 'AK/20150830/us-east-1/s3/aws4_request',
      signedHeaders: ['host', 'x-amz-date'],
      signature: 'abc',
    });
  });
});

describe("the fakes' verifier (test/helpers/fakes/sigv4-verify.ts) on the same vectors", async () => {
  const v = await import('../helpers/fakes/sigv4-verify.ts');
  it.each(VECTORS)('%s', (_name, method, path, query, extra, signed, signature) => {
    // The suite's request lines carry these paths as they are (a non-S3 service signs the path as sent).
    const target = query.length ? `${path}?${query.map(([k, val]) => `${encodeURIComponent(k)}=${encodeURIComponent(val)}`).join('&')}` : path;
    const headers: [string, string][] = [['Host', HOST], ['X-Amz-Date', SUITE.date], ...extra];
    const r = { method, target, headers, signedHeaders: signed.split(';'), payloadHash: EMPTY_SHA256, amzDate: SUITE.date, region: SUITE.region, service: SUITE.service };
    expect(v.signatureOf(SUITE.secret, r)).toBe(signature);
  });

  it('S3 examples: a Range GET, the aws-chunked chain and a signed trailer', () => {
    const headers: [string, string][] = [['Host', 'examplebucket.s3.amazonaws.com'], ['Range', 'bytes=0-9'], ['x-amz-content-sha256', EMPTY_SHA256], ['x-amz-date', S3.date]];
    const r = { method: 'GET', target: '/test.txt', headers, signedHeaders: ['host', 'range', 'x-amz-content-sha256', 'x-amz-date'], payloadHash: EMPTY_SHA256, amzDate: S3.date, region: 'us-east-1', service: 's3' };
    expect(v.signatureOf(S3.secret, r)).toBe('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
    const key = v.derivedKey(S3.secret, '20130524', 'us-east-1', 's3');
    const scope = '20130524/us-east-1/s3/aws4_request';
    const one = v.chunkSig(key, S3.date, scope, '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9', Buffer.alloc(65536, 'a'));
    expect(one).toBe('ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648');
    expect(v.trailerSig(key, S3.date, scope, 'e05ab64fe1dfdbf0b5870abbaabdb063c371d4e96f2767e6934d90529c5ae850', 'x-amz-checksum-crc32c:wdBDMA==\n')).toBe(
      '41e14ac611e27a8bb3d66c3bad6856f209297767d5dd4fc87d8fa9e422e03faf',
    );
  });
});
