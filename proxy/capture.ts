// Body capture for the audit trail: the first store.body_cap_bytes of each direction, counted in
// full, decoded (gzip/deflate/br) for storage, and scrubbed of the rule's injected secrets.
// Only the capped prefix is ever held: a 256 MiB upload costs at most `cap` bytes here.
import zlib from 'node:zlib';
import { type EchoSet, scrubEchoes } from './dlp/echo.ts';
import type { StoredPieces } from './dlp/segments.ts';

/** The first `cap` bytes of a stream, plus its full size. */
export class BodyCapture {
  /** Bytes offered to the capture, kept or not (what DLP released, when it captures). */
  private seen = 0;
  /**
   * The body's bytes on the wire, when the bytes added are not them (decoded and redacted by
   * DLP or the response filter): the size recorded is what was actually sent or received.
   */
  wire: (() => number) | undefined;
  /** The bytes added are already decoded (DLP captures what it scanned): Content-Encoding no longer applies. */
  decoded = false;
  /** The bytes added were scrubbed of the injected secrets as they streamed (the response filter). */
  scrubbed = false;
  private kept = 0;
  private chunks: Buffer[] = [];
  /** Pieces of the kept prefix whose SHA-256 the scanner already has (the writer uses them as they are). */
  private pieces: StoredPieces | undefined;

  constructor(readonly cap: number) {}

  /** Full size on the wire. */
  get size(): number {
    return this.wire ? this.wire() : this.seen;
  }

  add(chunk: Buffer, pieces?: StoredPieces): void {
    if (pieces) this.addPieces(chunk, pieces);
    this.seen += chunk.length;
    const room = this.cap - this.kept;
    if (room <= 0) return;
    let part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    // A small view into a large socket buffer would keep the whole buffer alive: copy it.
    if (part.buffer.byteLength > 2 * part.length) part = Buffer.from(part);
    this.chunks.push(part);
    this.kept += part.length;
  }

  get truncated(): boolean {
    return this.seen > this.kept;
  }

  /** The kept prefix as one buffer (one copy); the chunks are released. */
  take(): Buffer {
    const b = Buffer.concat(this.chunks, this.kept);
    this.chunks = [];
    return b;
  }

  /** The digested pieces of what take() returned (none once the prefix could not be followed). */
  takePieces(): StoredPieces | undefined {
    const p = this.pieces;
    this.pieces = undefined;
    return p && p.digests.length ? p : undefined;
  }

  /** Pieces lie within this chunk, in the stored copy's offsets; those wholly inside the cap are kept. */
  private addPieces(chunk: Buffer, p: StoredPieces): void {
    const to = this.seen + chunk.length;
    this.pieces ??= { ranges: [], digests: [] };
    for (let i = 0; i < p.digests.length; i++) {
      const s = p.ranges[2 * i];
      const e = p.ranges[2 * i + 1];
      if (s < this.seen || e > to || s >= e) throw new Error(`a stored piece [${s}, ${e}) lies outside its chunk [${this.seen}, ${to})`);
      if (e > this.cap) break;
      this.pieces.ranges.push(s, e);
      this.pieces.digests.push(p.digests[i]);
    }
  }
}

/** What a flow carries while it is in progress: one capture per direction and the secrets to scrub. */
export interface FlowBodies {
  request: BodyCapture;
  response: BodyCapture;
  echo: EchoSet | null;
}

/** `echo`: every form of what airlock injected for the rule (stages/credentials.ts echoOf), or null. */
export function newFlowBodies(cap: number, echo: EchoSet | null): FlowBodies {
  return { request: new BodyCapture(cap), response: new BodyCapture(cap), echo };
}

/** A body as the store keeps it. */
export interface StoredBody {
  direction: 'request' | 'response';
  contentType: string | null;
  /** The Content-Encoding `data` still carries: null when it is identity or was decoded. */
  encoding: string | null;
  /** Full size on the wire (before decoding, redaction or scrubbing): the bytes sent or received. */
  size: number;
  /** The wire body was longer than the cap, or its decoded form was. */
  truncated: boolean;
  data: Buffer;
  /** Pieces of `data` with their SHA-256 (from the DLP scanner), so the writer need not hash them again. */
  pieces?: StoredPieces;
}

type Headers = Record<string, string | string[]> | undefined;

const DECODABLE = new Set(['gzip', 'x-gzip', 'deflate', 'br']);

/**
 * Bodies ready for the store. Synchronous unless a body has to be decoded (zlib runs on the
 * thread pool), so the common case adds no latency and no promise.
 */
export function storedBodies(bodies: FlowBodies, requestHeaders: Headers, responseHeaders: Headers): StoredBody[] | Promise<StoredBody[]> {
  const out: (StoredBody | Promise<StoredBody>)[] = [];
  let async = false;
  for (const [direction, capture, headers] of [
    ['request', bodies.request, requestHeaders],
    ['response', bodies.response, responseHeaders],
  ] as const) {
    if (capture.size === 0) continue;
    const one = storedBody(direction, capture, headers, bodies.echo);
    if (one instanceof Promise) async = true;
    out.push(one);
  }
  return async ? Promise.all(out) : (out as StoredBody[]);
}

function storedBody(direction: StoredBody['direction'], capture: BodyCapture, headers: Headers, secrets: EchoSet | null): StoredBody | Promise<StoredBody> {
  const contentType = header(headers, 'content-type');
  const coding = capture.decoded ? null : header(headers, 'content-encoding')?.trim().toLowerCase() || null;
  const raw = capture.take();
  const pieces = capture.takePieces();
  const redact = (data: Buffer, cut: boolean) => scrubbedCopy(data, secrets, cut, capture.scrubbed ? 'cut' : direction === 'request' ? 'raw' : 'all');
  // Every StoredBody is built here, in one shape: a literal with spreads made V8 define its
  // properties one by one on the slow path, ~2 % of a keep-alive request's CPU.
  const body = (encoding: string | null, truncated: boolean, data: Buffer, kept?: StoredPieces): StoredBody => ({ direction, contentType, encoding, size: capture.size, truncated, data, pieces: kept });
  if (coding === null || coding === 'identity') {
    const data = redact(raw, capture.truncated);
    // Scrubbing that changed the copy changed its pieces: the writer hashes it itself.
    return body(null, capture.truncated, data, data === raw ? pieces : undefined);
  }
  if (!DECODABLE.has(coding)) return body(coding, capture.truncated, redact(raw, capture.truncated));
  return decodePrefix(raw, coding, capture.cap).then((d) => {
    if (!d) return body(coding, capture.truncated, redact(raw, capture.truncated));
    const truncated = capture.truncated || d.capped;
    return body(null, truncated, redact(d.data, truncated));
  });
}

function header(headers: Headers, name: string): string | null {
  const v = headers?.[name];
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * Decodes a (possibly truncated) compressed prefix. The streaming API with a sync flush at the
 * end yields whatever the prefix holds instead of failing on the missing tail; output stops at
 * `cap` bytes, so a decompression bomb costs at most `cap` plus one zlib chunk.
 * Resolves null when nothing could be decoded.
 */
export function decodePrefix(input: Buffer, coding: string, cap: number): Promise<{ data: Buffer; capped: boolean } | null> {
  return new Promise((resolve) => {
    const { Z_SYNC_FLUSH, BROTLI_OPERATION_FLUSH } = zlib.constants;
    const z =
      coding === 'br'
        ? zlib.createBrotliDecompress({ finishFlush: BROTLI_OPERATION_FLUSH })
        : coding === 'deflate'
          ? looksLikeZlib(input)
            ? zlib.createInflate({ finishFlush: Z_SYNC_FLUSH })
            : zlib.createInflateRaw({ finishFlush: Z_SYNC_FLUSH }) // servers that send raw deflate
          : zlib.createGunzip({ finishFlush: Z_SYNC_FLUSH });
    const parts: Buffer[] = [];
    let n = 0;
    let done = false;
    const finish = (capped: boolean) => {
      if (done) return;
      done = true;
      z.destroy();
      resolve({ data: Buffer.concat(parts, n), capped });
    };
    z.on('data', (c: Buffer) => {
      if (done || c.length === 0) return;
      if (n >= cap) return finish(true);
      const room = cap - n;
      const part = c.length <= room ? c : c.subarray(0, room);
      parts.push(part);
      n += part.length;
      if (c.length > room) finish(true);
    });
    z.on('end', () => finish(false));
    z.on('error', () => {
      if (n > 0) return finish(true); // corrupt after some output: keep what decoded, marked incomplete
      done = true;
      resolve(null);
    });
    z.end(input);
  });
}

function looksLikeZlib(b: Buffer): boolean {
  return b.length >= 2 && (b[0] & 0x0f) === 8 && ((b[0] << 8) | b[1]) % 31 === 0;
}

/**
 * A stored copy without the rule's secrets (echo.ts). 'all': every form, however spelled (a
 * response captured as received); 'raw': raw copies of every form (what the agent sent, which
 * never held the key); 'cut': the copy was scrubbed as it streamed, only its end cut at the cap
 * is checked. When the body was cut at the cap, a tail that begins a form is scrubbed too.
 */
export function scrubbedCopy(data: Buffer, echo: EchoSet | null, cut: boolean, how: 'all' | 'raw' | 'cut'): Buffer {
  if (!echo) return data;
  if (how === 'all') return scrubEchoes(echo, data, cut).out;
  const out = how === 'raw' ? echo.scrubRaw(data) : data;
  return cut ? echo.scrubCut(out) : out;
}
