// Scrubs exact copies of the credentials airlock injected from what an upstream sends back, so an
// echoing (or malicious) upstream can never hand the key to the agent. Stream-safe: a tail that
// could be the start of a secret is held until the next chunk decides it; nothing else is held,
// so streamed responses (SSE) are not delayed. Same length in, same length out.
export const ECHO_MARKER = '[redacted:injected]';

export class EchoScrubber {
  private carry: Buffer = Buffer.alloc(0);
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
    this.carry = keep ? Buffer.from(out.subarray(out.length - keep)) : Buffer.alloc(0);
    return keep ? out.subarray(0, out.length - keep) : out;
  }

  end(): Buffer {
    const rest = this.carry;
    this.carry = Buffer.alloc(0);
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

  /** Length of the longest tail of `buf` that is a proper prefix of some secret. */
  private pendingPrefix(buf: Buffer): number {
    for (let k = Math.min(this.longest - 1, buf.length); k > 0; k--) {
      const tail = buf.subarray(buf.length - k);
      if (this.secrets.some((s) => s.length > k && s.subarray(0, k).equals(tail))) return k;
    }
    return 0;
  }
}

function fit(n: number): string {
  return ECHO_MARKER.length <= n ? ECHO_MARKER + '*'.repeat(n - ECHO_MARKER.length) : '*'.repeat(n);
}
