// The request body on its way upstream, where credentials need more than streaming it through:
// how it is encoded (aws-chunked is S3 framing airlock reads and frames again), a copy kept to send
// it again after a 401, and the whole of it read to sign its hash.
import type http from 'node:http';
import type http2 from 'node:http2';
import type { HostRule } from '../../policies/types.ts';
import { scannable } from '../dlp/body.ts';

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;

/** How a request body is encoded: the Content-Encoding DLP reads, and whether it is inside aws-chunked framing. */
export interface BodyCoding {
  /** What DLP decodes (for aws-chunked: the coding inside the framing). */
  scanned: string | undefined;
  awsChunked: boolean;
}

/** On an aws_sigv4 rule, aws-chunked is S3's framing (read and re-framed by airlock), not a compression. */
export function bodyCoding(req: AnyRequest, rule: HostRule): BodyCoding {
  const raw = req.headers['content-encoding'];
  const all = (Array.isArray(raw) ? raw.join(', ') : raw)?.trim().toLowerCase() || undefined;
  if (rule.credential?.kind !== 'aws_sigv4' || !all || all.split(',')[0].trim() !== 'aws-chunked') return { scanned: all, awsChunked: false };
  const inner = all.split(',').slice(1).map((c) => c.trim()).filter(Boolean).join(', ');
  return { scanned: inner || undefined, awsChunked: true };
}

/** Why DLP cannot read this body, or undefined. */
export function unscannableReason(c: BodyCoding): string | undefined {
  if (!scannable(c.scanned)) return `the request body is sent with Content-Encoding: ${c.scanned}, which airlock cannot scan`;
  // Scanning would re-encode it, and the chunk sizes airlock re-signs would no longer fit.
  if (c.awsChunked && c.scanned !== undefined && c.scanned !== 'identity') {
    return `the request body is sent with Content-Encoding: aws-chunked, ${c.scanned}; airlock scans aws-chunked bodies only without a compression inside`;
  }
  return undefined;
}

/** Keeps the first `cap` bytes of a body as it streams, so a request can be sent again after a 401. */
export class Replay {
  #parts: Buffer[] = [];
  #size = 0;
  #over = false;
  #ended = false;

  constructor(private readonly cap: number) {}

  async *tee(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const c of body) {
      if (!this.#over) {
        this.#size += c.length;
        if (this.#size > this.cap) {
          this.#over = true;
          this.#parts = [];
        } else this.#parts.push(Buffer.from(c));
      }
      yield c;
    }
    this.#ended = true;
  }

  /** The whole body was sent and kept. */
  complete(): boolean {
    return this.#ended && !this.#over;
  }

  body(): Buffer | null {
    return this.#ended ? Buffer.concat(this.#parts, this.#size) : null;
  }
}

/** The whole body, or null when it is longer than `max` (what is left is not read). */
export async function readUpTo(body: AsyncIterable<Buffer> | null, max: number): Promise<Buffer | null> {
  if (!body) return Buffer.alloc(0);
  const it = body[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let size = 0;
  for (;;) {
    const step = await it.next();
    if (step.done) return Buffer.concat(parts, size);
    size += step.value.length;
    if (size > max) return null;
    parts.push(step.value);
  }
}
