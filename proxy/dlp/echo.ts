// Scrubs exact copies of the credentials airlock injected from what an upstream sends back, so an
// echoing (or malicious) upstream can never hand the key to the agent. Stream-safe: a tail that
// could be the start of a secret is held until the next chunk decides it; nothing else is held,
// so streamed responses (SSE) are not delayed. Same length in, same length out.
const ECHO_MARKER = '[redacted:injected]';
const EMPTY = Buffer.alloc(0);

export class EchoScrubber {
  private carry: Buffer = EMPTY;
  private readonly longest: number;
  /** Copies replaced so far. */
  scrubbed = 0;

  constructor(private readonly secrets: readonly Buffer[]) {
    this.longest = Math.max(0, ...secrets.map((s) => s.length));
  }

  push(chunk: Buffer): Buffer {
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    const out = this.replace(buf);
    const keep = this.pendingPrefix(out);
    this.carry = keep ? Buffer.from(out.subarray(out.length - keep)) : EMPTY;
    return keep ? out.subarray(0, out.length - keep) : out;
  }

  end(): Buffer {
    const rest = this.carry;
    this.carry = EMPTY;
    return rest;
  }

  private replace(buf: Buffer): Buffer {
    let out = buf;
    for (const s of this.secrets) {
      if (s.length === 0) continue;
      let at = out.indexOf(s);
      if (at < 0) continue;
      if (out === buf) out = Buffer.from(buf); // never write into the caller's buffer
      while (at >= 0) {
        out.write(fit(s.length), at, 'latin1');
        this.scrubbed++;
        at = out.indexOf(s, at + s.length);
      }
    }
    return out;
  }

  /**
   * Length of the longest tail of `buf` that is a proper prefix of some secret. Only positions
   * holding a secret's first byte are tried, and compared in place (no allocation per chunk).
   */
  private pendingPrefix(buf: Buffer): number {
    const from = Math.max(0, buf.length - this.longest + 1);
    let best = 0;
    for (const s of this.secrets) {
      for (let at = buf.indexOf(s[0], from); at >= 0; at = buf.indexOf(s[0], at + 1)) {
        const k = buf.length - at;
        if (k >= s.length || k <= best) continue;
        if (buf.compare(s, 0, k, at, buf.length) === 0) best = k;
      }
    }
    return best;
  }
}

function fit(n: number): string {
  return ECHO_MARKER.length <= n ? ECHO_MARKER + '*'.repeat(n - ECHO_MARKER.length) : '*'.repeat(n);
}
