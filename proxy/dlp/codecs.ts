// The Content-Encodings DLP can read, each as a decoder and an encoder of the same coding: a
// body is decoded to be scanned and encoded again before it is forwarded (requests and responses).
import zlib from 'node:zlib';
import type { Transform } from 'node:stream';

export interface Codec {
  decode(): Transform;
  encode(): Transform;
}

const gzip: Codec = { decode: () => zlib.createGunzip(), encode: () => zlib.createGzip() };

/** A Map, not an object: the coding name comes from the wire ("constructor" must not be found). */
export const CODECS: ReadonlyMap<string, Codec> = new Map([
  ['gzip', gzip],
  ['x-gzip', gzip],
  ['deflate', { decode: () => zlib.createInflate(), encode: () => zlib.createDeflate() }],
  ['br', { decode: () => zlib.createBrotliDecompress(), encode: () => zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } }) }],
]);
