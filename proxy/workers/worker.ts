// One serving worker (`airlock start` with workers > 1 forks these): the pipeline and the
// agent-facing servers of a single airlock, fed with connections the supervisor accepted. The
// store, budgets' counters, the shared leaf-mint budget, metrics and the operator's listeners stay
// with the supervisor; flows cross to it over the IPC channel (proxy/workers/protocol.ts).
import type http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { loadCa } from '../../ca/authority.ts';
import { LeafMinter } from '../../ca/leaf-cache.ts';
import { loadPolicyText } from '../../policies/load.ts';
import { type CommandResult, useCommandRunner } from '../../policies/secret-exec.ts';
import { createBudgets } from '../budgets/budgets.ts';
import type { ConfigRef } from '../config-ref.ts';
import { connOf } from '../conn.ts';
import { shareTokens, tokenMintedElsewhere, tokenProvenElsewhere, type TokenShare } from '../credentials/minted.ts';
import { nativeAddon } from '../dlp/native.ts';
import { watchProcessMemory } from '../memory-watch.ts';
import { type StoredBody, storedBodies } from '../capture.ts';
import type { Flow } from '../flow.ts';
import type { Guard } from '../io/guard.ts';
import { Upstream } from '../io/upstream.ts';
import { flushLog } from '../log.ts';
import { DRAIN_MS } from '../main.ts';
import { reloadPolicy } from '../reload.ts';
import { createServing } from '../serving.ts';
import type { CounterStore } from '../store/writer.ts';
import type { Begun, FromWorker, StoreRefusal, ToWorker } from './protocol.ts';

type AnyRequest = Parameters<Guard['request']>[0];
type AnyResponse = Parameters<Guard['request']>[1];

export async function runWorker(): Promise<number> {
  if (!process.send) throw new Error('airlock __worker runs only as a worker of `airlock start`');
  // The supervisor orders the stop (after it stopped accepting); a Ctrl-C reaches the whole
  // process group, and a worker leaving on its own would cut requests the supervisor drains.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => {});
  const init = await new Promise<Extract<ToWorker, { t: 'init' }>>((resolve) => process.once('message', (m: ToWorker) => m.t === 'init' && resolve(m)));
  const channel = new Channel();
  shareTokens({
    acquire: (key, stale, forced) => channel.call({ op: 'token', key, stale, forced }) as ReturnType<TokenShare['acquire']>,
    minted: (key, got, forced) => channel.send({ t: 'minted', key, got, forced }),
    proven: (key, value) => channel.send({ t: 'proven', key, value }),
  });
  useCommandRunner((argv, cwd, timeoutMs, cacheMs, now) => channel.call({ op: 'exec', argv, cwd, timeoutMs, cacheMs, now }) as Promise<CommandResult>);
  const r = loadPolicyText(init.start.text, init.start.path);
  if (!r.ok) {
    channel.send({ t: 'failed', error: r.errors.join('; ') });
    return 1;
  }
  nativeAddon()?.limitMallocArenas(1);
  watchProcessMemory(nativeAddon());
  const ref: ConfigRef = { current: r.config };
  const upstream = new Upstream(r.config);
  if (init.current) reloadPolicy(ref, upstream, init.current.text);
  upstream.setOwnListeners(init.own);
  const ca = loadCa(r.config.dataDir);
  const minter = new LeafMinter(ca, { cacheSize: r.config.ca.cacheSize });
  let refusal: StoreRefusal = init.storeRefusal;
  const budgets = createBudgets(remoteCounters(channel, init.counters));
  const { pipeline, listeners } = createServing({
    ref,
    upstream,
    minter,
    record: (flow, config) => channel.flow(flow, config.log.flows),
    budgets,
    storeRefusal: () => refusal,
    caCert: { pem: ca.certPem, der: ca.certDer },
    mintGate: { take: (client) => channel.call({ op: 'mint', client }) as Promise<boolean> },
    onGuard: (guard) => trackRequests(guard, channel),
  });
  const servers = listeners.map((l) => l.server);
  // Node starts the header-timeout checks of an HTTP server on 'listening'; these never listen.
  for (const s of servers) s.emit('listening');
  const sockets = new Map<number, net.Socket>();

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    pipeline.drain();
    const deadline = Date.now() + DRAIN_MS;
    while (pipeline.active() > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 25));
    for (const s of sockets.values()) s.destroy();
    await upstream.close();
    budgets.close();
    await channel.flushed();
    flushLog();
    process.disconnect();
  };

  process.on('message', (m: ToWorker, handle?: net.Socket) => {
    switch (m.t) {
      case 'conn': {
        if (!handle) return;
        if (stopping) return void handle.destroy();
        sockets.set(m.id, handle);
        handle.once('close', () => {
          sockets.delete(m.id);
          channel.closed(m.id);
        });
        servers[m.l].emit('connection', handle);
        return;
      }
      case 'policy': {
        const res = reloadPolicy(ref, upstream, m.policy.text);
        channel.send(res.ok ? { t: 'reloaded', ok: true } : { t: 'reloaded', ok: false, errors: res.errors });
        return;
      }
      case 'store':
        refusal = m.refusal;
        return;
      case 'token':
        tokenMintedElsewhere(m.key, m.token);
        return;
      case 'proven':
        tokenProvenElsewhere(m.key, m.value);
        return;
      case 'reply':
        channel.answer(m.id, m.value);
        return;
      case 'stop':
        void stop();
        return;
    }
  });
  // The supervisor is gone (killed): nobody hands out connections or records flows any more.
  process.on('disconnect', () => {
    if (!stopping) process.exit(1);
  });
  const stats = setInterval(() => channel.send({ t: 'stats', active: pipeline.active(), minted: minter.stats.minted, hits: minter.stats.hits }), 250);
  stats.unref();
  channel.send({ t: 'ready' });
  await new Promise<void>((resolve) => process.once('disconnect', () => resolve()));
  return 0;
}

/** Tells the supervisor which requests are in progress, so a worker's death records them. */
function trackRequests(guard: Guard, channel: Channel): void {
  let next = 0;
  const begin = (req: AnyRequest, protocol: Flow['protocol']): number => {
    const key = ++next;
    const h2 = req.httpVersionMajor === 2;
    const target = ((h2 ? (req.headers[':path'] as string | undefined) : req.url) ?? '').slice(0, 512);
    const host = (h2 ? (req.headers[':authority'] as string | undefined) : undefined) ?? req.headers.host;
    const conn = connOf(req.socket);
    channel.begin([key, Date.now(), conn?.entry ?? 'explicit', conn?.listener ?? '', conn?.client ?? '', req.method ?? '', target, host ?? conn?.pinned?.host, protocol]);
    return key;
  };
  const request = guard.request;
  guard.request = (req: AnyRequest, res: AnyResponse) => {
    const key = begin(req, req.httpVersionMajor === 2 ? 'h2' : 'h1');
    res.once('close', () => channel.end(key));
    request(req, res);
  };
  const upgrade = guard.upgrade;
  guard.upgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const key = begin(req, 'ws');
    socket.once('close', () => channel.end(key));
    upgrade(req, socket, head);
  };
}

/** The budgets' counters, kept by the supervisor's store. */
function remoteCounters(channel: Channel, initial: ReturnType<CounterStore['readNow']>): CounterStore {
  return {
    claim: (key, want, max) => channel.call({ op: 'claim', key, want, max }) as Promise<number | null>,
    add: (rows) => channel.send({ t: 'add', rows }),
    read: (from) => channel.call({ op: 'read', from }) as Promise<ReturnType<CounterStore['readNow']> | null>,
    readNow: (from) => initial.filter((row) => row[3] >= from),
  };
}

type Call = DistributiveOmit<Extract<FromWorker, { t: 'rpc' }>, 't' | 'id'>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The IPC channel to the supervisor: batched news, calls that await an answer. */
class Channel {
  #flows: [Flow, StoredBody[] | null, boolean][] = [];
  #begun: Begun[] = [];
  #ended: number[] = [];
  #closed: number[] = [];
  #scheduled = false;
  #preparing = 0;
  #calls = new Map<number, (v: unknown) => void>();
  #nextCall = 0;
  #last: Promise<void> = Promise.resolve();

  send(m: FromWorker): void {
    if (!process.connected) return;
    this.#last = new Promise((resolve) => process.send!(m, undefined, undefined, () => resolve()));
  }

  call(c: Call): Promise<unknown> {
    const id = ++this.#nextCall;
    return new Promise((resolve) => {
      this.#calls.set(id, resolve);
      this.send({ t: 'rpc', id, ...c } as FromWorker);
    });
  }

  answer(id: number, value: unknown): void {
    const resolve = this.#calls.get(id);
    this.#calls.delete(id);
    resolve?.(value);
  }

  /** Bodies are made ready for the store here (decoded, scrubbed), so the supervisor only writes them. */
  flow(f: Flow, logged: boolean): void {
    const captured = f.bodies;
    if (!captured) return void this.#queue(f, null, logged);
    f.bodies = undefined;
    const stored = storedBodies(captured, f.requestHeaders, f.responseHeaders);
    if (!(stored instanceof Promise)) return void this.#queue(f, stored, logged);
    this.#preparing++;
    stored.then(
      (b) => this.#queue(f, b, logged),
      () => this.#queue(f, [], logged),
    ).finally(() => this.#preparing--);
  }

  #queue(f: Flow, stored: StoredBody[] | null, logged: boolean): void {
    this.#flows.push([f, stored, logged]);
    this.#schedule();
  }

  begin(b: Begun): void {
    this.#begun.push(b);
    this.#schedule();
  }

  end(key: number): void {
    this.#ended.push(key);
    this.#schedule();
  }

  closed(id: number): void {
    this.#closed.push(id);
    this.#schedule();
  }

  /** Everything sent so far has reached the channel. */
  async flushed(): Promise<void> {
    while (this.#preparing > 0) await new Promise((r) => setTimeout(r, 5));
    this.#flush();
    await this.#last;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    if (!this.#flows.length && !this.#begun.length && !this.#ended.length && !this.#closed.length) return;
    const m: FromWorker = { t: 'batch', flows: this.#flows, begun: this.#begun, ended: this.#ended, closed: this.#closed };
    this.#flows = [];
    this.#begun = [];
    this.#ended = [];
    this.#closed = [];
    this.send(m);
  }
}
