// S3's aws-chunked body encoding (Content-Encoding: aws-chunked): "SIZE[;chunk-signature=SIG]\r\n
// DATA\r\n" ... "0[;...]\r\n", then trailing headers and a blank line. With a signed payload each
// chunk's signature chains from the request's, so a re-signed request needs every chunk re-signed.
// unchunk() reads the agent's framing (DLP then sees the plain data); rechunk() frames the data
// again in the agent's chunk sizes with airlock's signatures, so the body keeps its exact length
// (Content-Length and x-amz-decoded-content-length stay true). Only a signed chunk is held whole,
// to sign it before it is sent: at most MAX_SIGNED_CHUNK bytes per request.
import { AirlockError } from '../errors.ts';
import { chunkSignature, trailerSignature } from './sigv4.ts';

export const MAX_SIGNED_CHUNK = 1024 * 1024;
const MAX_LINE = 4096;
const CRLF = Buffer.from('\r\n');
const SIG = /^chunk-signature=[0-9a-f]{64}$/;
const TRAILER_SIG = /^x-amz-trailer-signature:[0-9a-f]{64}$/;

export type ChunkedMode = { signed: boolean; trailer: boolean };

/** What the agent's framing said, shared by unchunk() (writer) and rechunk() (reader). */
export class Frames {
  /** Each chunk's size field as the agent wrote it (hex), the final "0" included. */
  readonly sizes: { text: string; n: number }[] = [];
  /** Trailer lines as sent ("name:value"), without a trailer signature. */
  readonly trailers: string[] = [];
  ended = false;
}

function invalid(reason: string): AirlockError {
  return new AirlockError('aws_chunked_invalid', `the aws-chunked request body is malformed: ${reason}`);
}

/** The data of an aws-chunked body, framing removed (and recorded in `frames`). */
export async function* unchunk(source: AsyncIterable<Buffer>, mode: ChunkedMode, frames: Frames): AsyncGenerator<Buffer> {
  let buf: Buffer = Buffer.alloc(0);
  let state = 'size' as 'size' | 'data' | 'data-end' | 'trailer' | 'done';
  let left = 0;
  let signedTrailer = false;
  for await (const chunk of source) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (state === 'data') {
        if (buf.length === 0) break;
        const take = Math.min(left, buf.length);
        const part = buf.subarray(0, take);
        buf = buf.subarray(take);
        left -= take;
        if (left === 0) state = 'data-end';
        yield part;
        continue;
      }
      if (state === 'done') {
        if (buf.length) throw invalid('bytes after the end of the body');
        break;
      }
      if (state === 'data-end') {
        if (buf.length < 2) break;
        if (!buf.subarray(0, 2).equals(CRLF)) throw invalid('a chunk is longer than its size');
        buf = buf.subarray(2);
        state = 'size';
        continue;
      }
      const eol = buf.indexOf(CRLF);
      if (eol < 0) {
        if (buf.length > MAX_LINE) throw invalid('a line longer than 4096 bytes');
        break;
      }
      const line = buf.subarray(0, eol).toString('latin1');
      buf = buf.subarray(eol + 2);
      if (state === 'trailer') {
        if (line === '') {
          state = 'done';
          frames.ended = true;
          continue;
        }
        const colon = line.indexOf(':');
        if (colon <= 0 || !mode.trailer) throw invalid(mode.trailer ? 'a trailer line without "name:value"' : 'trailers in a body without x-amz-trailer');
        if (line.slice(0, colon).trim().toLowerCase() === 'x-amz-trailer-signature') {
          if (!mode.signed || !TRAILER_SIG.test(line) || signedTrailer) throw invalid('an unexpected x-amz-trailer-signature');
          signedTrailer = true;
        } else frames.trailers.push(line);
        if (frames.trailers.length > 16) throw invalid('more than 16 trailers');
        continue;
      }
      const semi = line.indexOf(';');
      const text = semi < 0 ? line : line.slice(0, semi);
      if (!/^[0-9a-fA-F]{1,12}$/.test(text)) throw invalid('a chunk size that is not hex');
      const ext = semi < 0 ? '' : line.slice(semi + 1);
      // Re-signing keeps the body's length only when the agent's chunk header is exactly this.
      if (mode.signed ? !SIG.test(ext) : ext !== '') throw invalid(mode.signed ? 'a chunk without exactly one chunk-signature' : 'a chunk extension in an unsigned body');
      const n = parseInt(text, 16);
      if (mode.signed && n > MAX_SIGNED_CHUNK) {
        throw invalid(`a signed chunk of ${n} bytes; airlock re-signs chunks of up to ${MAX_SIGNED_CHUNK} bytes`);
      }
      frames.sizes.push({ text, n });
      if (n === 0) {
        state = 'trailer'; // trailer lines (none without a trailer mode), then a blank line
        continue;
      }
      left = n;
      state = 'data';
    }
  }
  if (state !== 'done') throw invalid('the body ended before its final chunk');
  if (mode.signed && mode.trailer && !signedTrailer) throw invalid('a signed trailer without x-amz-trailer-signature');
}

export interface ChunkSigning {
  key: Buffer;
  amzDate: string;
  scope: string;
  /** The request's own signature: the first link of the chain. */
  seed: string;
}

/**
 * The data framed again in the agent's chunk sizes, each chunk (and the trailer) signed when
 * `signing` is given. Fails when the data does not fill the sizes exactly.
 */
export async function* rechunk(data: AsyncIterable<Buffer>, mode: ChunkedMode, frames: Frames, signing: ChunkSigning | null): AsyncGenerator<Buffer> {
  let previous = signing?.seed ?? '';
  let index = 0;
  let held: Buffer[] = [];
  let filled = 0;
  const header = (size: { text: string }, body: Buffer | null) => {
    if (!signing) return Buffer.from(`${size.text}\r\n`, 'latin1');
    previous = chunkSignature(signing.key, signing.amzDate, signing.scope, previous, body ?? Buffer.alloc(0));
    return Buffer.from(`${size.text};chunk-signature=${previous}\r\n`, 'latin1');
  };
  for await (let piece of data) {
    while (piece.length > 0) {
      const size = frames.sizes[index];
      if (!size || size.n === 0) throw invalid('more data than its chunk sizes');
      const take = Math.min(size.n - filled, piece.length);
      const part = piece.subarray(0, take);
      piece = piece.subarray(take);
      if (!signing && filled === 0) yield header(size, null);
      if (signing) held.push(part);
      else yield part;
      filled += take;
      if (filled < size.n) continue;
      if (signing) {
        const body = Buffer.concat(held);
        held = [];
        yield Buffer.concat([header(size, body), body, CRLF]);
      } else yield CRLF;
      filled = 0;
      index++;
    }
  }
  const last = frames.sizes[index];
  if (filled !== 0 || !last || last.n !== 0 || !frames.ended) throw invalid('less data than its chunk sizes');
  let tail = header(last, Buffer.alloc(0)).toString('latin1');
  for (const t of frames.trailers) tail += `${t}\r\n`;
  if (mode.trailer && signing) {
    const canonical = frames.trailers.map((t) => `${t.slice(0, t.indexOf(':')).trim().toLowerCase()}:${t.slice(t.indexOf(':') + 1).trim()}\n`).join('');
    tail += `x-amz-trailer-signature:${trailerSignature(signing.key, signing.amzDate, signing.scope, previous, canonical)}\r\n`;
  }
  yield Buffer.from(`${tail}\r\n`, 'latin1');
}
