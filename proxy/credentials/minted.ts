// A token airlock mints (OAuth2 client credentials, GitHub App installation tokens): fetched once
// and shared by every request of the rule, fetched again in the background ahead of expiry so a
// request waits only for the first token (or after a failure). One fetch at a time.
import type { Got, Live } from '../../policies/secrets.ts';

export interface Minted {
  value: string;
  lifetimeMs: number;
  /** Minted this long ago (a token another worker minted). */
  ageMs?: number;
  /** Minted because an upstream refused the previous one (as its minter said). */
  forced?: boolean;
  /** An upstream accepted it already (through another worker). */
  proven?: boolean;
}

/**
 * Workers share minted tokens through their supervisor (proxy/workers/): a worker about to mint
 * asks first, and gets the token another worker minted, or the go-ahead to mint it for all.
 */
export interface TokenShare {
  /** `stale`: the token this worker has and wants replaced (refresh ahead of expiry, or a 401). */
  acquire(key: string, stale: string | undefined, forced: boolean): Promise<{ token: Got<Minted> } | { mint: true }>;
  /** What this worker's mint gave, for the workers waiting on it. */
  minted(key: string, got: Got<Minted>, forced: boolean): void;
  /** An upstream accepted this token for the first time (every worker learns it). */
  proven(key: string, value: string): void;
}

let share: TokenShare | null = null;
/** This worker's tokens by credential, to take the ones other workers mint. */
const sharing = new Map<string, WeakRef<MintedToken>>();

/** In a worker: tokens are minted once for all workers. */
export function shareTokens(s: TokenShare): void {
  share = s;
}

/** Another worker minted a token for `key`: every request of this worker moves to it. */
export function tokenMintedElsewhere(key: string, m: Minted): void {
  sharing.get(key)?.deref()?.adopt(m);
}

/** An upstream accepted `value` through another worker. */
export function tokenProvenElsewhere(key: string, value: string): void {
  sharing.get(key)?.deref()?.provenElsewhere(value);
}

export interface Token {
  readonly value: string;
  readonly mintedAt: number;
  readonly expiresAt: number;
  /** Minted because the upstream refused the previous token (401). */
  readonly forced: boolean;
  /** An upstream accepted it at least once. */
  proven: boolean;
}

/** A failed fetch is not repeated for every request in this window. */
const FAILURE_HOLD_MS = 1000;
/**
 * A token minted after a 401 that no upstream has accepted yet is not thrown away for another 401
 * within this window: an API that refuses every token costs one refresh, not one per request.
 */
const FORCED_MIN_MS = 30_000;
/** Tokens kept for scrubbing after they were replaced (until they expire). */
const HISTORY = 4;

export class MintedToken {
  #got?: { ok: true; value: Token };
  #history: Token[] = [];
  #failure?: { got: { ok: false; problem: string }; at: number };
  #minting?: Promise<Got<Token>>;
  #forceNext = false;
  /** Changes whenever the set of tokens to scrub changes. */
  version = 0;

  constructor(
    private readonly mint: () => Promise<Got<Minted>>,
    private readonly now: () => number = Date.now,
    /** Names the credential across workers (the same for every rule that uses it). */
    private readonly shareKey?: string,
  ) {
    if (shareKey !== undefined) sharing.set(shareKey, new WeakRef(this));
  }

  /** Another worker's upstream accepted `value`. */
  provenElsewhere(value: string): void {
    const t = this.#got?.value;
    if (t && t.value === value) t.proven = true;
  }

  /** A token another worker minted for the same credential (unless it is the one in use). */
  adopt(m: Minted): void {
    if (this.#got?.value.value === m.value) return;
    this.#minted({ ok: true, value: m });
  }

  current(): Live<Token> {
    const got = this.#got;
    const now = this.now();
    const holding = this.#failure !== undefined && now - this.#failure.at < FAILURE_HOLD_MS;
    if (got && now < usableUntil(got.value)) {
      if (now >= refreshAt(got.value) && !holding) void this.#refresh();
      return got;
    }
    if (holding) return this.#failure!.got;
    return this.#refresh();
  }

  /**
   * The upstream refused `value` (401): the next request gets a new token. False when the token
   * was minted after a 401 less than 30 s ago and never accepted (the refusal is not about its age).
   */
  invalidate(value: string): boolean {
    const t = this.#got?.value;
    if (!t || t.value !== value) return true; // already replaced
    if (t.forced && !t.proven && this.now() - t.mintedAt < FORCED_MIN_MS) return false;
    this.#got = undefined;
    this.#forceNext = true;
    this.#failure = undefined;
    return true;
  }

  /** An upstream accepted `value`. */
  confirm(value: string): void {
    const t = this.#got?.value;
    if (!t || t.value !== value || t.proven) return;
    t.proven = true;
    if (share && this.shareKey !== undefined) share.proven(this.shareKey, value);
  }

  /** Every token that may still be valid: the current one and those it replaced. */
  values(): string[] {
    const now = this.now();
    const live = this.#history.filter((t) => t.expiresAt > now);
    if (live.length !== this.#history.length) {
      this.#history = live;
      this.version++;
    }
    return live.map((t) => t.value);
  }

  #refresh(): Promise<Got<Token>> {
    this.#minting ??= this.#mintOrShare().then(
      (m) => this.#minted(m),
      (err: unknown) => this.#minted({ ok: false, problem: `could not mint a token: ${(err as Error).message}` }),
    );
    return this.#minting;
  }

  /** Mints, or (in a worker) takes what another worker minted. */
  async #mintOrShare(): Promise<Got<Minted>> {
    const key = this.shareKey;
    if (!share || key === undefined) return this.mint();
    const forced = this.#forceNext;
    const had = this.#history[0]?.value;
    const answer = await share.acquire(key, had, forced);
    if ('token' in answer) return answer.token;
    let got: Got<Minted>;
    try {
      got = await this.mint();
    } catch (err) {
      got = { ok: false, problem: `could not mint a token: ${(err as Error).message}` };
    }
    share.minted(key, got, forced);
    return got;
  }

  #minted(m: Got<Minted>): Got<Token> {
    this.#minting = undefined;
    const now = this.now();
    if (!m.ok) {
      this.#failure = { got: m, at: now };
      return m;
    }
    const mintedAt = now - (m.value.ageMs ?? 0);
    const token: Token = { value: m.value.value, mintedAt, expiresAt: mintedAt + m.value.lifetimeMs, forced: m.value.forced ?? this.#forceNext, proven: m.value.proven ?? false };
    this.#forceNext = false;
    this.#failure = undefined;
    this.#got = { ok: true, value: token };
    this.#history = [token, ...this.#history.filter((t) => t.value !== token.value)].slice(0, HISTORY);
    this.version++;
    return this.#got;
  }
}

/** Used until shortly before it expires (30 s, or a tenth of a short lifetime). */
function usableUntil(t: Token): number {
  return t.expiresAt - Math.min(30_000, (t.expiresAt - t.mintedAt) / 10);
}

/** Fetched again from here on, in the background (5 min before expiry, or a quarter of a short lifetime). */
export function refreshAt(t: Pick<Token, "mintedAt" | "expiresAt">): number {
  return t.expiresAt - Math.min(5 * 60_000, (t.expiresAt - t.mintedAt) / 4);
}
