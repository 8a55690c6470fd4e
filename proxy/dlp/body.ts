// A request (or response) body through the scanner: decoded if it is compressed (and encoded
// again the same way after scanning), bounded against decompression bombs, and released only
// as it is scanned. A block ends the stream with a BodyRefused error; the caller aborts the
// exchange and answers the agent. Another rule's placeholder in the decoded body (a tripwire)
// ends it the same way, with or without DLP rules.
import { pipeline, Readable } from 'node:stream';
import { CODECS } from './codecs.ts';
import type { Finding, Rules } from './stream.ts';
import { nativeAddon } from './native.ts';
import { type BodyScanner, SegmentedScanner, type StoredPieces } from './segments.ts';
import { StreamScanner } from './stream.ts';
import type { Tripwire } from './tripwire.ts';

export type RefusalCode = 'dlp_blocked' | 'decompression_bomb' | 'unscannable_encoding' | 'placeholder_exfiltration';

/** Ends a body stream that must not continue. Carries the reason as a value for the answer. */
export class BodyRefused extends Error {
  constructor(
    readonly code: RefusalCode,
    readonly reason: string,
    readonly finding?: Finding,
  ) {
    super(reason);
  }
}

export interface BodyScanOptions {
  /** null: no DLP rules apply (the body is read for the tripwire alone). */
  rules: Rules | null;
  /** Values that refuse the body when found in it (decoded), before any of their bytes is released. */
  tripwire?: { wire: Tripwire; reason: (hit: number) => string };
  location: 'request body' | 'response body';
  /** Content-Encoding as sent (lower-case), or undefined. */
  encoding: string | undefined;
  form: boolean;
  /** The framing fixes the length (Content-Length already sent, body not re-encoded): redact in place. */
  sameLength: boolean;
  maxDecodedBytes: number;
  maxRatio: number;
  /** Bytes received so far on the wire (for the ratio). */
  wireBytes: () => number;
  /** Every finding as it is committed. */
  onFinding: (f: Finding) => void;
  /**
   * The released bytes as the store may keep them: decoded, with every finding redacted; with
   * the SHA-256 of the pieces among them that went through unchanged, when the scanner has them.
   */
  onStored?: (decoded: Buffer, pieces?: StoredPieces) => void;
}

/** Ratios are judged only past this many decoded bytes: small bodies compress well legitimately. */
const RATIO_GRACE = 1024 * 1024;

/** Whether scanning may change the body's length (then Content-Length must not be forwarded). */
export function changesLength(encoding: string | undefined): boolean {
  return encoding !== undefined && encoding !== 'identity';
}

/** Is this Content-Encoding one the scanner can read? */
export function scannable(encoding: string | undefined): boolean {
  return encoding === undefined || encoding === 'identity' || CODECS.has(encoding);
}

export function scanBody(source: AsyncIterable<Buffer>, o: BodyScanOptions): AsyncIterable<Buffer> {
  const coding = o.encoding && o.encoding !== 'identity' ? CODECS.get(o.encoding) : undefined;
  if (o.encoding && o.encoding !== 'identity' && !coding) {
    return failing(new BodyRefused('unscannable_encoding', `the ${o.location} is sent with Content-Encoding: ${o.encoding}, which airlock cannot scan`));
  }
  const decoded = coding ? (pipeline(Readable.from(source, { objectMode: false }), coding.decode(), noop) as AsyncIterable<Buffer>) : source;
  const scanned = scanStream(decoded, o, coding !== undefined);
  return coding ? (pipeline(Readable.from(scanned, { objectMode: false }), coding.encode(), noop) as AsyncIterable<Buffer>) : scanned;
}

/**
 * A JSON body is scanned element by element and what was scanned before is remembered
 * (segments.ts); a form, or anything where the native scanner is not built, as one stream.
 */
export function bodyScanner(o: Pick<BodyScanOptions, 'location' | 'form'> & { rules: Rules }, keepStored: boolean, sameLength: boolean): BodyScanner {
  if (o.form || !o.rules.engine.native || !nativeAddon()) return new StreamScanner(o.rules, o.location, o.form, keepStored, sameLength);
  return new SegmentedScanner(o.rules, o.location, keepStored, sameLength);
}

async function* scanStream(source: AsyncIterable<Buffer>, o: BodyScanOptions, decoding: boolean): AsyncGenerator<Buffer> {
  const rules = o.rules;
  const scanner = rules ? bodyScanner({ ...o, rules }, o.onStored !== undefined, o.sameLength && !decoding) : null;
  const trip = o.tripwire;
  /** The tripwire first (it holds back only a possible start of a value), then the DLP scanner. */
  const tripped = (chunk: Buffer): Buffer => {
    if (!trip) return chunk;
    const t = trip.wire.push(chunk);
    if ('hit' in t) throw new BodyRefused('placeholder_exfiltration', trip.reason(t.hit));
    return t.out;
  };
  let seen = 0;
  let reported = 0;
  const flush = () => {
    for (; scanner && reported < scanner.findings.length; reported++) o.onFinding(scanner.findings[reported]);
  };
  const blocked = () => {
    flush();
    const f = scanner!.blocked!;
    return new BodyRefused('dlp_blocked', `the ${o.location} matched DLP rule ${f.ruleId}`, f);
  };
  const stored = (out: Buffer) => {
    if (o.onStored) o.onStored(scanner?.lastStored ?? out, scanner?.takePieces?.());
  };
  for await (const chunk of source) {
    seen += chunk.length;
    if (decoding) {
      if (seen > o.maxDecodedBytes) throw new BodyRefused('decompression_bomb', `the ${o.location} decompresses to more than ${o.maxDecodedBytes} bytes`);
      if (seen > RATIO_GRACE && seen > o.maxRatio * Math.max(1, o.wireBytes())) {
        throw new BodyRefused('decompression_bomb', `the ${o.location} decompresses more than ${o.maxRatio}:1`);
      }
    }
    const out = scanner ? scanner.push(tripped(chunk)) : tripped(chunk);
    if (out === null) throw blocked();
    flush();
    if (out.length) {
      stored(out);
      yield out;
    }
  }
  // The tripwire's held tail was no value after all; then the scanner's.
  const rest = trip ? trip.wire.end() : EMPTY;
  const tails = scanner ? [() => scanner.push(rest), () => scanner.end()] : [() => rest];
  for (const next of tails) {
    const out = next();
    if (out === null) throw blocked();
    flush();
    if (out.length) {
      stored(out);
      yield out;
    }
  }
}

const EMPTY = Buffer.alloc(0);

async function* failing(err: Error): AsyncGenerator<Buffer> {
  throw err;
}

function noop(): void {}
