// What stands between an upstream's response body and the agent: injected credentials scrubbed
// (always, when the rule injects any, in every form echo.ts reads), and the DLP rules when
// `dlp.responses` is on — SSE streams event by event, so tokens are not held back. A compressed
// body is decoded for this and encoded again; then Content-Length is dropped (the agent gets
// chunked / unframed-length data). The store's copy is taken here, after scrubbing, with every
// DLP finding redacted whatever its action.
import stream, { type Duplex, Transform, type TransformCallback } from 'node:stream';
import { BodyRefused } from './body.ts';
import { CODECS } from './codecs.ts';
import { type EchoSet, EchoScrubber } from './echo.ts';
import { type Finding, type Rules, scanValue, StreamScanner } from './stream.ts';

export interface ResponseFilterOptions {
  /** The rule's injected secrets, compiled; null when it injects none. */
  echo: EchoSet | null;
  rules: Rules | null;
  encoding: string | undefined;
  contentType: string | undefined;
  onFinding: (f: Finding) => void;
  /** The released body as the store may keep it: decoded, scrubbed, every finding redacted. */
  onStored?: (decoded: Buffer) => void;
}

/** Bytes out, or the refusal that ends the response. A value, not an exception. */
export type FilterStep = { out: Buffer } | { refused: BodyRefused };

/** Synchronous: used inline on the relay path for bodies without Content-Encoding. */
export interface SyncFilter {
  push(chunk: Buffer): FilterStep;
  end(): FilterStep;
}

export type ResponseFilter = ({ sync: SyncFilter } | { stream: Duplex }) & {
  /** The body's length may change: do not forward Content-Length. */
  dropLength: boolean;
  /** The filter gives the store its copy (onStored): the raw bytes must not be captured. */
  stores: boolean;
};

// stream.compose exists in Node 20 (stability 1) but @types/node 20 does not declare it.
const compose = (stream as unknown as { compose: (...s: Duplex[]) => Duplex }).compose;


/** null: nothing to do, relay the bytes as they are. */
export function responseFilter(o: ResponseFilterOptions): ResponseFilter | null {
  if (!o.echo && !o.rules) return null;
  const stores = o.onStored !== undefined;
  const encoded = o.encoding !== undefined && o.encoding !== 'identity';
  const codec = encoded ? CODECS.get(o.encoding!) : undefined;
  // An unknown coding cannot be read: with secrets to protect, refuse rather than pass it blind.
  if (encoded && !codec) {
    const t = new Transform({
      transform(_c, _e, cb) {
        cb(new BodyRefused('unscannable_encoding', `the response body is sent with Content-Encoding: ${o.encoding}, which airlock cannot scan`));
      },
    });
    // Nothing is stored either: the raw bytes could hold the key in a form airlock cannot read.
    return { stream: t, dropLength: true, stores };
  }
  const core = new FilterCore(o);
  if (!codec) return { sync: core, dropLength: o.rules !== null && !o.rules.report, stores };
  return { stream: compose(codec.decode(), asTransform(core), codec.encode()), dropLength: true, stores };
}

function asTransform(core: SyncFilter): Transform {
  const step = (r: FilterStep, cb: TransformCallback) => ('refused' in r ? cb(r.refused) : cb(null, r.out.length ? r.out : undefined));
  return new Transform({
    transform: (chunk: Buffer, _e, cb) => step(core.push(chunk), cb),
    flush: (cb) => step(core.end(), cb),
  });
}

class FilterCore implements SyncFilter {
  private readonly echo: EchoScrubber | null;
  private readonly scanner: StreamScanner | null;
  private readonly sse: boolean;
  private event: Buffer = Buffer.alloc(0);
  private offset = 0;
  private reported = 0;

  constructor(private readonly o: ResponseFilterOptions) {
    this.echo = o.echo ? new EchoScrubber(o.echo) : null;
    this.sse = o.rules !== null && /^text\/event-stream\b/i.test(o.contentType ?? '');
    this.scanner = o.rules && !this.sse ? new StreamScanner(o.rules, 'response body', false, o.onStored !== undefined) : null;
  }

  push(chunk: Buffer): FilterStep {
    return this.scan(this.echo ? this.echo.push(chunk) : chunk, false);
  }

  end(): FilterStep {
    return this.scan(this.echo ? this.echo.end() : EMPTY, true);
  }

  private scan(data: Buffer, final: boolean): FilterStep {
    if (this.sse) return this.scanEvents(data, final);
    if (!this.scanner) {
      this.store(data);
      return { out: data };
    }
    let out = this.scanner.push(data);
    // lastStored belongs to the round that released `out` (none when nothing was released).
    if (out !== null && out.length) this.store(this.scanner.lastStored ?? out);
    if (out !== null && final) {
      const tail = this.scanner.end();
      if (tail !== null && tail.length) this.store(this.scanner.lastStored ?? tail);
      out = tail === null ? null : Buffer.concat([out, tail]);
    }
    this.report(this.scanner.findings);
    return out === null ? { refused: this.refusal(this.scanner.blocked!) } : { out };
  }

  private store(b: Buffer): void {
    if (b.length && this.o.onStored) this.o.onStored(b);
  }

  /** SSE: each complete event (up to a blank line) is scanned whole and released at once. */
  private scanEvents(data: Buffer, final: boolean): FilterStep {
    this.event = this.event.length ? Buffer.concat([this.event, data]) : data;
    const out: Buffer[] = [];
    for (;;) {
      const end = eventEnd(this.event);
      const whole = end < 0 && final ? this.event.length : end;
      if (whole <= 0) break;
      const one = this.event.subarray(0, whole);
      this.event = this.event.subarray(whole);
      const r = scanValue(this.o.rules!, one, 'response body', false, this.o.onStored !== undefined);
      for (const f of r.findings) this.o.onFinding({ ...f, offset: f.offset + this.offset });
      this.offset += one.length;
      if (r.out === null) return { refused: this.refusal(r.blocked!) };
      this.store(r.stored);
      out.push(r.out);
    }
    return { out: out.length === 1 ? out[0] : Buffer.concat(out) };
  }

  private report(findings: Finding[]): void {
    for (; this.reported < findings.length; this.reported++) this.o.onFinding(findings[this.reported]);
  }

  private refusal(f: Finding): BodyRefused {
    return new BodyRefused('dlp_blocked', `the response body matched DLP rule ${f.ruleId}`, f);
  }
}

const EMPTY = Buffer.alloc(0);

/** End (exclusive) of the first complete SSE event, or -1. */
function eventEnd(b: Buffer): number {
  const lf = b.indexOf('\n\n');
  const crlf = b.indexOf('\r\n\r\n');
  if (lf < 0) return crlf < 0 ? -1 : crlf + 4;
  if (crlf < 0) return lf + 2;
  return Math.min(lf + 2, crlf + 4);
}
