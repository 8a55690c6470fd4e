// What the supervisor and its workers say to each other over the IPC channel (advanced
// serialization: Buffers and nested objects cross as they are). A worker's news (flows, requests
// begun and ended, connections closed) travels in one batch per event-loop turn.
import type { CounterRow } from '../store/writer.ts';
import type { Got } from '../../policies/secrets.ts';
import type { StoredBody } from '../capture.ts';
import type { Minted } from '../credentials/minted.ts';
import type { Flow } from '../flow.ts';

export interface PolicyText {
  /** The policy file's path (relative paths in it resolve against its directory). */
  path: string;
  text: string;
}

export type StoreRefusal = { reason: string; retryAfterS: number } | null;

/** A request a worker has begun and not ended: what the supervisor records if the worker dies with it. */
export type Begun = [key: number, startedAt: number, entry: Flow['entry'], listener: string, client: string, method: string, target: string, host: string | undefined, protocol: Flow['protocol']];

export type ToWorker =
  | {
      t: 'init';
      /** The policy as the supervisor started with it (restart-only settings come from it) ... */
      start: PolicyText;
      /** ... and as in force now, when a reload has changed it since. */
      current?: PolicyText;
      /** The supervisor's bound listeners: airlock never dials itself. */
      own: { host?: string; port: number }[];
      counters: CounterRow[];
      storeRefusal: StoreRefusal;
    }
  /** An accepted agent connection (the socket comes with it) for agent-facing listener `l`. */
  | { t: 'conn'; l: number; id: number }
  | { t: 'policy'; policy: PolicyText }
  | { t: 'store'; refusal: StoreRefusal }
  /** A token another worker minted (proxy/workers/token-share.ts). */
  | { t: 'token'; key: string; token: Minted }
  | { t: 'proven'; key: string; value: string }
  | { t: 'reply'; id: number; value: unknown }
  | { t: 'stop' };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'failed'; error: string }
  /** flows: each with its bodies made ready for the store (null: none captured) and whether its policy logs it. */
  | { t: 'batch'; flows: [Flow, StoredBody[] | null, boolean][]; begun: Begun[]; ended: number[]; closed: number[] }
  | { t: 'stats'; active: number; minted: number; hits: number }
  | { t: 'rpc'; id: number; op: 'claim'; key: [string, string, string, number]; want: number; max: number }
  | { t: 'rpc'; id: number; op: 'read'; from: number }
  | { t: 'rpc'; id: number; op: 'mint'; client: string }
  | { t: 'rpc'; id: number; op: 'token'; key: string; stale: string | undefined; forced: boolean }
  | { t: 'minted'; key: string; got: Got<Minted>; forced: boolean }
  | { t: 'proven'; key: string; value: string }
  | { t: 'rpc'; id: number; op: 'exec'; argv: string[]; cwd: string; timeoutMs: number; cacheMs: number; now: number }
  | { t: 'add'; rows: CounterRow[] }
  | { t: 'reloaded'; ok: boolean; errors?: string[] };
