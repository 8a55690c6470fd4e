// Whether the flow store can write, and what airlock does while it cannot (store.on_unavailable):
// `refuse` answers new requests 503 until it can, `serve` lets them through unrecorded. One state
// for the whole store, changed by what the writer thread reports (space.cjs names the problem;
// for the PostgreSQL store, a full spool: pg/writer-worker.cjs);
// every change is one event (main.ts logs it), never one per flow. Recovery is probed with
// backoff (writer.ts), so it is seen without waiting for traffic.

export const PROBLEM_KINDS = ['full', 'readonly', 'io', 'deleted', 'busy', 'writer', 'behind', 'spool_full'] as const;
export const DROP_CAUSES = ['backlog_full', 'rejected', 'writer_failed', 'shutdown'] as const;
export type ProblemKind = (typeof PROBLEM_KINDS)[number];
export type DropCause = (typeof DROP_CAUSES)[number];
export type OnUnavailable = 'refuse' | 'serve';

export interface StoreProblem {
  kind: ProblemKind;
  /** For the operator: the error as the file system or SQLite said it. */
  message: string;
}

export interface StoreEvent {
  level: 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

export interface StoreStatus {
  state: 'ok' | 'unavailable';
  on_unavailable: OnUnavailable;
  kind?: ProblemKind;
  reason?: string;
  since?: string;
  /** Flows waiting in memory to be written. */
  backlog: number;
  /** Flows lost since start, by cause. */
  dropped: Record<string, number>;
}

/** Said to agents: the kind of problem, never a path or an error text. */
const AGENT_WORDS: Record<ProblemKind, string> = {
  full: "the disk of airlock's flow store is full",
  readonly: "the flow store's file system is read-only",
  io: "the flow store's disk reports I/O errors",
  deleted: "the flow store's file was deleted",
  busy: 'the flow store is locked by another program',
  writer: "airlock's flow writer failed",
  behind: "airlock's flow writer is too far behind",
  spool_full: "airlock's flow database is unreachable and its local spool is full",
};

const PROBE_FIRST_MS = 250;
const PROBE_MAX_MS = 5_000;
/** While unavailable, a reminder line this often (besides the line at each change). */
const REMIND_MS = 60_000;

export class StoreAvailability {
  private problem: (StoreProblem & { since: number }) | null = null;
  private delay = PROBE_FIRST_MS;
  private lastLine = 0;
  private droppedNow = 0;
  /** Failed write attempts (batches and probes) since start, by kind. */
  readonly failures = new Map<ProblemKind, number>();
  readonly dropped = new Map<DropCause, number>();

  constructor(
    readonly mode: OnUnavailable,
    private readonly emit: (e: StoreEvent) => void,
    private readonly backlog: () => number,
  ) {}

  get ok(): boolean {
    return this.problem === null;
  }

  get kind(): ProblemKind | undefined {
    return this.problem?.kind;
  }

  /** A write (of flows, or the probe's) failed. */
  writeFailed(p: StoreProblem): void {
    this.failures.set(p.kind, (this.failures.get(p.kind) ?? 0) + 1);
    this.unavailable(p);
  }

  /** The store cannot take writes (a failed write, or a check: full, read-only, deleted). */
  unavailable(p: StoreProblem): void {
    const now = Date.now();
    if (this.problem && this.problem.kind === p.kind) {
      this.problem.message = p.message;
      return;
    }
    const changed = this.problem !== null;
    this.problem = { ...p, since: this.problem?.since ?? now };
    this.delay = PROBE_FIRST_MS;
    this.lastLine = now;
    if (!changed) this.droppedNow = 0;
    this.emit({
      level: 'error',
      msg:
        this.mode === 'refuse'
          ? 'flow store cannot write: refusing new requests (503) until it can'
          : 'flow store cannot write: SERVING REQUESTS UNRECORDED (store.on_unavailable: serve)',
      fields: { kind: p.kind, error: p.message, on_unavailable: this.mode, backlog: this.backlog(), ...(changed ? { changed: true } : {}) },
    });
  }

  /** Everything held back has been written: the store is in use again. */
  recovered(written: number): void {
    if (!this.problem) return;
    const seconds = Math.round((Date.now() - this.problem.since) / 100) / 10;
    this.problem = null;
    this.emit({
      level: 'info',
      msg: this.mode === 'refuse' ? 'flow store writes again: requests are served again' : 'flow store writes again: requests are recorded again',
      fields: { unavailable_s: seconds, backlog_written: written, dropped: this.droppedNow },
    });
  }

  /** Flows given up on. The first drop of an outage is logged; the total goes with recovery. */
  drop(cause: DropCause, flows: number, error?: string): void {
    if (flows <= 0) return;
    this.dropped.set(cause, (this.dropped.get(cause) ?? 0) + flows);
    const first = this.droppedNow === 0;
    this.droppedNow += flows;
    if (cause === 'rejected' || cause === 'shutdown' || cause === 'writer_failed' || first) {
      this.emit({ level: 'error', msg: DROP_WORDS[cause], fields: { flows, cause, ...(error ? { error } : {}) } });
    }
  }

  /** How long until the next probe: 250 ms, doubling up to 5 s. */
  nextProbeDelay(): number {
    const d = this.delay;
    this.delay = Math.min(this.delay * 2, PROBE_MAX_MS);
    return d;
  }

  /** Called on each probe: a reminder line once a minute while the store stays unavailable. */
  remind(): void {
    if (!this.problem || Date.now() - this.lastLine < REMIND_MS) return;
    this.lastLine = Date.now();
    this.emit({
      level: 'error',
      msg: this.mode === 'refuse' ? 'flow store still cannot write: still refusing new requests' : 'flow store still cannot write: still serving unrecorded',
      fields: { kind: this.problem.kind, error: this.problem.message, since: new Date(this.problem.since).toISOString(), backlog: this.backlog(), dropped: this.droppedNow },
    });
  }

  /** What the pipeline answers instead of forwarding: null while requests are to be served. */
  refusal(): { reason: string; retryAfterS: number } | null {
    if (!this.problem || this.mode === 'serve') return null;
    return {
      reason: `airlock cannot record requests right now (${AGENT_WORDS[this.problem.kind]}) and refuses them rather than let them through unrecorded`,
      retryAfterS: Math.max(1, Math.ceil(this.delay / 1000)),
    };
  }

  status(): StoreStatus {
    const p = this.problem;
    return {
      state: p ? 'unavailable' : 'ok',
      on_unavailable: this.mode,
      ...(p ? { kind: p.kind, reason: p.message, since: new Date(p.since).toISOString() } : {}),
      backlog: this.backlog(),
      dropped: Object.fromEntries(this.dropped),
    };
  }
}

const DROP_WORDS: Record<DropCause, string> = {
  backlog_full: 'flow store backlog is full: flows from now on are dropped (counted) until the store writes again',
  rejected: 'flow store rejected flows (not retried)',
  writer_failed: 'flow writer thread failed: flows it held are lost',
  shutdown: 'flows in the backlog could not be written before stopping: lost',
};
