// Scans a byte stream and releases only bytes that were scanned: a window is held back so that
// a secret split across chunks is caught before any of its bytes are released. Findings do not
// depend on how the stream was chunked (test/unit/dlp-stream-props.test.ts).
import type { DlpAction, RuleAction, Severity } from '../../policies/dlp/types.ts';
import type { Engine } from './engine.ts';
import { mask } from './mask.ts';
import { enabledMask, type Scanned, scanBlock } from './scan.ts';

export type { RuleAction };
/** What happened: report mode records what enforcement would have done. */
export type TakenAction = DlpAction | 'would-block' | 'would-redact';

export interface Finding {
  ruleId: string;
  severity: Severity;
  action: TakenAction;
  /** `request body`, `response body`, `url`, `query`, `header:NAME`, `websocket` */
  location: string;
  /** Byte offset of the secret in the (content-decoded) body or value. */
  offset: number;
  length: number;
  /** How the secret was encoded where it was found ('' = as is; 'json>base64', ...). */
  via: string;
  /** Masked, never the whole secret. */
  preview: string;
}

export interface Rules {
  engine: Engine;
  /** Effective action per rule index for this request (policy overrides and exceptions applied). */
  actions: RuleAction[];
  /** Record what would have been blocked or redacted; change nothing. */
  report: boolean;
}

/** Bytes held back: longer than any built-in rule's longest match. */
export const HOLD = 16 * 1024;
/** Unreleased bytes that start a scan round. */
const ROUND = 8 * HOLD;
/** Bytes kept before the release point as left context (`\b`, split escapes). */
const CONTEXT = 64;
/** Findings kept per stream; more are counted, not listed. */
export const MAX_FINDINGS = 100;

/**
 * The findings of one body or value and what its matches do to the bytes: each rule's action
 * for this request (log, redact, block; report mode records what enforcement would do). Shared
 * by every scanner of one body (segments.ts scans a JSON body piece by piece).
 */
export class FindingLog {
  readonly findings: Finding[] = [];
  dropped = 0;
  blocked: Finding | undefined;
  /** The last released bytes with every finding redacted (for the store), when they differ. */
  lastStored: Buffer | undefined;

  constructor(
    readonly rules: Rules,
    readonly location: string,
    private readonly keepStored = false,
    /** Redact without changing the length (the body's Content-Length was already sent). */
    private readonly sameLength = false,
  ) {}

  /**
   * Applies the matches (sorted, all within buf[from, to)) whose rule is on for this request;
   * `base` is the stream offset of buf[from]. Returns buf[from, to) as it may be released, or
   * null once a match blocks.
   */
  commit(buf: Buffer, from: number, to: number, matches: readonly Scanned[], base: number): Buffer | null {
    const redactions: Scanned[] = [];
    let committed = 0;
    for (const m of matches) {
      const action = this.rules.actions[m.rule.index];
      if (action === 'off') continue;
      committed++;
      const taken: TakenAction = this.rules.report && action !== 'log' ? (`would-${action}` as TakenAction) : action;
      const f = this.record(m, taken, base + (m.sStart - from));
      if (taken === 'block') {
        this.blocked = f;
        return null;
      }
      if (taken === 'redact') redactions.push(m);
    }
    const out = redact(buf, from, to, redactions, this.sameLength);
    this.lastStored =
      this.keepStored && committed > redactions.length
        ? redact(
            buf,
            from,
            to,
            matches.filter((m) => this.rules.actions[m.rule.index] !== 'off'),
            false,
          )
        : undefined;
    return out;
  }

  private record(m: Scanned, action: TakenAction, offset: number): Finding {
    const f: Finding = {
      ruleId: m.rule.rule.id,
      severity: m.rule.rule.severity,
      action,
      location: this.location,
      offset,
      length: m.sEnd - m.sStart,
      via: m.via,
      preview: 'preview' in m ? m.preview : mask(m.secret),
    };
    if (this.findings.length < MAX_FINDINGS) this.findings.push(f);
    else this.dropped++;
    return f;
  }
}

export class StreamScanner {
  readonly log: FindingLog;
  private keep: Buffer = Buffer.alloc(0);
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Start of the unreleased bytes within `keep`. */
  private from = 0;
  /** Stream offset of keep[from]. */
  private base: number;
  private readonly enabled: (i: number) => boolean;
  private readonly mask: Uint8Array | undefined;

  constructor(
    private readonly rules: Rules,
    location: string,
    private readonly form = false,
    keepStored = false,
    /** Redact without changing the length (the body's Content-Length was already sent). */
    sameLength = false,
    /** A log shared with other scanners of the same body, and this stream's offset in that body. */
    shared?: { log: FindingLog; base: number },
  ) {
    this.log = shared?.log ?? new FindingLog(rules, location, keepStored, sameLength);
    this.base = shared?.base ?? 0;
    this.enabled = (i) => rules.actions[i] !== 'off';
    this.mask = rules.engine.native ? maskOf(rules) : undefined;
  }

  get findings(): Finding[] {
    return this.log.findings;
  }
  get dropped(): number {
    return this.log.dropped;
  }
  get blocked(): Finding | undefined {
    return this.log.blocked;
  }
  get lastStored(): Buffer | undefined {
    return this.log.lastStored;
  }

  /** Bytes now safe to forward (possibly redacted), or null once blocked. */
  push(chunk: Buffer): Buffer | null {
    if (this.blocked) return null;
    // Chunks wait in a list and are joined once per round: joining each 16 KiB TLS record onto
    // the held window would copy it again and again.
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    // Scan in steps of at least 7 x HOLD: each round scans the held window again, so the larger
    // the step, the less of it is rescanned (1/7 of the bytes instead of 1/3 at 3 x HOLD), for
    // under 8 x HOLD (128 KiB) plus one chunk held per stream.
    if (this.keep.length - this.from + this.pendingBytes < ROUND) return EMPTY;
    this.join();
    return this.round(false);
  }

  private join(): void {
    if (this.pending.length === 0) return;
    const parts = this.keep.length > 0 ? [this.keep, ...this.pending] : this.pending;
    this.keep = parts.length === 1 ? parts[0] : Buffer.concat(parts, this.keep.length + this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Takes a whole value without scanning yet (end() scans it in one round). */
  prime(value: Buffer): this {
    this.keep = value;
    return this;
  }

  /** The rest, scanned to the end; null if blocked. */
  end(): Buffer | null {
    if (this.blocked) return null;
    this.join();
    return this.round(true);
  }

  private round(final: boolean): Buffer | null {
    const buf = this.keep;
    const from = this.from;
    const scan = scanBlock(this.rules.engine, buf, from, { enabled: this.enabled, mask: this.mask, form: this.form }, final);
    let boundary = final ? buf.length : Math.max(from, Math.min(buf.length - HOLD, scan.holdFrom));
    // Never release part of a match or of a base64 segment that is still being decided.
    const spans: [number, number][] = [...scan.matches.map((m): [number, number] => [m.start, m.end]), ...scan.segments];
    for (let moved = true; moved && !final; ) {
      moved = false;
      for (const [s, e] of spans) {
        if (s < boundary && e > boundary) {
          boundary = Math.max(from, s);
          moved = true;
        }
      }
    }
    const out = this.log.commit(
      buf,
      from,
      boundary,
      scan.matches.filter((m) => m.end <= boundary),
      this.base,
    );
    if (out === null) return null;
    const keepFrom = Math.max(0, boundary - CONTEXT);
    this.keep = buf.subarray(keepFrom);
    this.from = boundary - keepFrom;
    this.base += boundary - from;
    return out;
  }
}

const EMPTY = Buffer.alloc(0);

/** One byte per rule, 1 where its action is not off; once per actions array (per policy, unless an exception applies). */
const masks = new WeakMap<readonly string[], Uint8Array>();
function maskOf(rules: Rules): Uint8Array {
  let m = masks.get(rules.actions);
  if (!m) masks.set(rules.actions, (m = enabledMask(rules.engine, (i) => rules.actions[i] !== 'off')));
  return m;
}

/** buf[from, to) with each redacted secret replaced by `[REDACTED:rule-id]` (overlaps merged). */
export function redact(buf: Buffer, from: number, to: number, ms: readonly Scanned[], sameLength: boolean): Buffer {
  if (ms.length === 0) return buf.subarray(from, to);
  const parts: Buffer[] = [];
  let at = from;
  for (const m of [...ms].sort((a, b) => a.sStart - b.sStart)) {
    if (m.sEnd <= at) continue;
    const start = Math.max(at, m.sStart);
    if (start > at) parts.push(buf.subarray(at, start));
    const marker = `[REDACTED:${m.rule.rule.id}]`;
    parts.push(Buffer.from(sameLength ? fit(marker, m.sEnd - start) : marker));
    at = m.sEnd;
  }
  parts.push(buf.subarray(at, to));
  return Buffer.concat(parts);
}

/** The marker in exactly n bytes: padded with '*', or shortened to [REDACTED], or all '*'. */
function fit(marker: string, n: number): string {
  if (marker.length <= n) return marker + '*'.repeat(n - marker.length);
  return n >= 10 ? `[REDACTED]${'*'.repeat(n - 10)}` : '*'.repeat(n);
}

const everyRedacted = new WeakMap<RuleAction[], Rules>();

/** The same rules with every rule that is not off redacting: what the store keeps, whatever the actions. */
export function redactEvery(rules: Rules): Rules {
  let r = everyRedacted.get(rules.actions);
  if (!r || r.engine !== rules.engine) {
    r = { engine: rules.engine, actions: rules.actions.map((a) => (a === 'off' ? 'off' : 'redact')), report: false };
    everyRedacted.set(rules.actions, r);
  }
  return r;
}

/**
 * Scans a whole value at once (headers, URL parts, SSE events, the CLI). `out` is null when
 * blocked; `stored` has every finding redacted whatever its action (what the store may keep),
 * blocked or not (a block stops the scan at its match: the stored copy is scanned again).
 */
export function scanValue(
  rules: Rules,
  value: Buffer,
  location: string,
  form = false,
  keepStored = false,
): { findings: Finding[]; blocked?: Finding; out: Buffer | null; stored: Buffer } {
  const s = new StreamScanner(rules, location, form, keepStored);
  const out = s.prime(value).end();
  const stored = s.blocked && keepStored ? scanValue(redactEvery(rules), value, location, form).out! : (s.lastStored ?? out ?? value);
  return { findings: s.findings, ...(s.blocked ? { blocked: s.blocked } : {}), out, stored };
}
