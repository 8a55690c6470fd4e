// `airlock start` with more than one worker: this process binds every listener, accepts agent
// connections and hands each to the worker serving the fewest (the per-client connection limit is
// counted here, over all workers); it keeps the one flow store writer, the budgets' counters, the
// shared leaf-mint budget, /metrics (summed over workers) and the web UI. A worker that dies is
// replaced, and the requests it had in progress are recorded as errors. SIGHUP validates the
// policy here and sends the same text to every worker.
import { type ChildProcess, fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { caPaths, initCa } from '../../ca/authority.ts';
import type { Config } from '../../policies/types.ts';
import type { ConfigRef } from '../config-ref.ts';
import { clientOf } from '../conn.ts';
import { rulesFor } from '../dlp/policy.ts';
import { sealFlowText } from '../stages/seal.ts';
import { type Flow, newFlow } from '../flow.ts';
import { type Bound, describeAddr, listen } from '../io/listen.ts';
import { clientKey, MintBudget } from '../limits.ts';
import { flushLog, logEvent } from '../log.ts';
import { agentAddresses, DRAIN_MS, type Running } from '../main.ts';
import { startOperatorServers } from '../operator-servers.ts';
import { openRecording } from '../recording.ts';
import { nativeAddon } from '../dlp/native.ts';
import { watchProcessMemory } from '../memory-watch.ts';
import { reloadPolicy } from '../reload.ts';
import { agentListeners } from '../serving.ts';
import { runShared } from '../../policies/secret-exec.ts';
import { createTokenShare } from './token-share.ts';
import type { Begun, FromWorker, PolicyText, StoreRefusal, ToWorker } from './protocol.ts';

/** A worker that dies this soon after starting is restarted only after a pause (a crash loop must not spin). */
const QUICK_DEATH_MS = 5_000;
const RESTART_PAUSE_MS = 1_000;

interface Worker {
  slot: number;
  proc: ChildProcess;
  ready: boolean;
  startedAt: number;
  /** Connections handed to it and not closed: id -> client key. */
  conns: Map<number, string>;
  /** Requests begun and not ended. */
  begun: Map<number, Begun>;
  stats: { active: number; minted: number; hits: number };
  /** How it ended, once it has. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  disconnected: boolean;
  done: Promise<void>;
}

export async function startSupervisor(initial: Config, count: number, policy: PolicyText): Promise<Running> {
  // Flows and their bodies arrive here from the workers: dead message buffers, as in a worker.
  watchProcessMemory(nativeAddon());
  initCa(initial.dataDir, initial.ca.nameConstraints ? { nameConstraints: initial.hosts.map((h) => h.match) } : {});
  const ref: ConfigRef = { current: initial };
  let current: PolicyText | undefined;
  let refusal: StoreRefusal = null;
  let opened = false;
  // The store's state reaches every worker as it changes (before it is logged: a client that
  // reads the log line and sends its next request meets the new state).
  const rec = openRecording(initial, ref, () => storeChanged());
  const { store, budgets } = rec;
  const limits = initial.limits;
  const mints = new MintBudget(() => limits.leafMintsPerMinute);
  const tokens = createTokenShare((key, token, by) => broadcast({ t: 'token', key, token }, by));
  const perClient = new Map<string, number>();
  const workers: Worker[] = [];
  const waiting: [net.Socket, number][] = [];
  let restarts = 0;
  let nextConn = 0;
  let turn = 0;
  refusal = store.availability.refusal();
  opened = true;
  let closing: Promise<void> | undefined;
  const specs = agentListeners(initial);
  const bound: Bound[] = [];
  const agentBound: Bound[] = [];
  let own: { host?: string; port: number }[] = [];

  /** To every worker serving now, but the one (pid) the news came from. */
  function broadcast(m: ToWorker, except?: number) {
    for (const w of workers) if (w.ready && w.proc.connected && w.proc.pid !== except) w.proc.send(m);
  }
  // While the store cannot write, workers refuse new requests too (store.on_unavailable: refuse).
  function storeChanged() {
    if (!opened) return;
    const now = store.availability.refusal();
    if (JSON.stringify(now) === JSON.stringify(refusal)) return;
    refusal = now;
    broadcast({ t: 'store', refusal });
  }
  const availability = setInterval(storeChanged, 100);

  const release = (w: Worker, id: number) => {
    const key = w.conns.get(id);
    if (key === undefined) return;
    w.conns.delete(id);
    const left = (perClient.get(key) ?? 1) - 1;
    if (left <= 0) perClient.delete(key);
    else perClient.set(key, left);
  };

  const dispatch = (socket: net.Socket, l: number) => {
    socket.on('error', () => {});
    const key = clientKey(socket);
    if ((perClient.get(key) ?? 0) >= limits.maxConnectionsPerClient) {
      const spec = specs[l];
      rec.record(
        refused(spec.kind === 'route' ? 'route' : spec.kind === 'proxy' ? 'explicit' : 'transparent', describeAddr(spec.addr), clientOf(socket), 'connection_limit', `more than limits.max_connections_per_client (${limits.maxConnectionsPerClient}) open connections from this client`),
      );
      return void socket.destroy();
    }
    const ready = workers.filter((w) => w.ready && w.proc.connected);
    if (!ready.length) return void waiting.push([socket, l]);
    // The fewest connections; among equals, the next in turn (short connections spread too).
    turn++;
    let w = ready[turn % ready.length];
    for (let i = 1; i < ready.length; i++) {
      const c = ready[(turn + i) % ready.length];
      if (c.conns.size < w.conns.size) w = c;
    }
    const id = ++nextConn;
    w.conns.set(id, key);
    perClient.set(key, (perClient.get(key) ?? 0) + 1);
    w.proc.send({ t: 'conn', l, id } satisfies ToWorker, socket, { keepOpen: false }, (err) => {
      if (!err) return;
      release(w, id);
      socket.destroy();
    });
  };

  const onMessage = (w: Worker, m: FromWorker) => {
    switch (m.t) {
      case 'ready':
        w.ready = true;
        while (waiting.length && !closing) {
          const [s, l] = waiting.shift()!;
          if (!s.destroyed) dispatch(s, l);
        }
        return;
      case 'failed':
        logEvent('error', 'worker could not start', { pid: w.proc.pid, error: m.error });
        return;
      case 'batch':
        for (const b of m.begun) w.begun.set(b[0], b);
        for (const k of m.ended) w.begun.delete(k);
        for (const [f, stored, logged] of m.flows) rec.record(f, logged, stored ?? undefined);
        for (const id of m.closed) release(w, id);
        return;
      case 'stats':
        w.stats = { active: m.active, minted: m.minted, hits: m.hits };
        return;
      case 'rpc': {
        const reply = (value: unknown) => w.proc.connected && w.proc.send({ t: 'reply', id: m.id, value } satisfies ToWorker);
        if (m.op === 'mint') reply(mints.take(m.client));
        else if (m.op === 'token') tokens.acquire(m.key, m.stale, w.proc.pid!, reply);
        else if (m.op === 'exec') void runShared(m.argv, m.cwd, m.timeoutMs, m.cacheMs, m.now).then(reply);
        else if (m.op === 'claim') void store.counters.claim(m.key, m.want, m.max).then(reply, () => reply(null));
        else void store.counters.read(m.from).then(reply, () => reply(null));
        return;
      }
      case 'proven':
        if (tokens.proven(m.key, m.value)) broadcast({ t: 'proven', key: m.key, value: m.value }, w.proc.pid);
        return;
      case 'minted':
        tokens.minted(m.key, m.got, m.forced, w.proc.pid!);
        return;
      case 'add':
        store.counters.add(m.rows);
        return;
      case 'reloaded':
        if (!m.ok) logEvent('error', 'a worker refused the reloaded policy; it keeps the one it had', { pid: w.proc.pid, problems: m.errors });
        return;
    }
  };

  const spawn = (slot: number): Worker => {
    const proc = fork(workerEntry(), ['__worker'], { serialization: 'advanced', execArgv: workerFlags(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let gone!: () => void;
    const w: Worker = {
      slot,
      proc,
      ready: false,
      startedAt: Date.now(),
      conns: new Map(),
      begun: new Map(),
      stats: { active: 0, minted: 0, hits: 0 },
      exit: undefined,
      disconnected: false,
      done: new Promise<void>((r) => (gone = r)),
    };
    workers[slot] = w;
    proc.on('message', (m: FromWorker) => onMessage(w, m));
    proc.on('error', (err) => logEvent('error', 'worker process error', { error: err.message }));
    // Messages sent before it died are read before 'disconnect': act once both have come.
    const ended = () => {
      if (!w.exit || !w.disconnected) return;
      gone();
      if (!closing) died(w, w.exit.signal, w.exit.code);
    };
    proc.once('exit', (code, signal) => {
      w.exit = { code, signal };
      w.ready = false;
      w.stats = { ...w.stats, active: 0 };
      ended();
    });
    proc.once('disconnect', () => {
      w.disconnected = true;
      ended();
    });
    proc.send({ t: 'init', start: policy, ...(current ? { current } : {}), own, counters: store.counters.readNow(Date.now() - 86_400_000), storeRefusal: refusal } satisfies ToWorker);
    return w;
  };

  const died = (w: Worker, signal: NodeJS.Signals | null, code: number | null) => {
    const how = signal ? `was killed (${signal})` : `exited with code ${code}`;
    for (const b of w.begun.values()) rec.record(cut(b, `the airlock worker serving this request ${how} before it finished; airlock started another`, ref.current));
    for (const id of [...w.conns.keys()]) release(w, id);
    tokens.gone(w.proc.pid!);
    restarts++;
    logEvent('error', 'worker died; starting another', { pid: w.proc.pid, signal, code, requests_cut: w.begun.size });
    const quick = Date.now() - w.startedAt < QUICK_DEATH_MS;
    const again = () => !closing && spawn(w.slot);
    if (quick) setTimeout(again, RESTART_PAUSE_MS).unref();
    else again();
  };

  const close = () =>
    (closing ??= (async () => {
      clearInterval(availability);
      await Promise.all(bound.map((b) => b.stopAccepting()));
      for (const [s] of waiting.splice(0)) s.destroy();
      for (const w of workers) if (w.proc.connected) w.proc.send({ t: 'stop' } satisfies ToWorker);
      // Each worker drains (up to DRAIN_MS) and sends its last flows before it leaves.
      const deadline = setTimeout(() => workers.forEach((w) => w.proc.kill('SIGKILL')), DRAIN_MS + 5_000);
      await Promise.all(workers.map((w) => w.done));
      clearTimeout(deadline);
      await Promise.all(bound.map((b) => b.close()));
      budgets.close();
      await store.close();
      flushLog();
    })());

  const reload = () =>
    reloadPolicy(ref, {
      reconfigure: (_next, text) => {
        current = { path: policy.path, text };
        broadcast({ t: 'policy', policy: current });
      },
    });

  try {
    for (const spec of specs) {
      const server = net.createServer({ pauseOnConnect: true });
      const l = agentBound.length;
      server.on('connection', (s: net.Socket) => dispatch(s, l));
      const b = await listen(server, spec.addr);
      bound.push(b);
      agentBound.push(b);
    }
    const ops = await startOperatorServers(initial, ref, rec, {
      active: () => workers.reduce((n, w) => n + w.stats.active, 0),
      connections: () => workers.reduce((n, w) => n + w.conns.size, 0),
      certs: () => workers.reduce((c, w) => ({ minted: c.minted + w.stats.minted, hits: c.hits + w.stats.hits }), { minted: 0, hits: 0 }),
      stopping: () => closing !== undefined,
      reload,
      detail: () => ({
        workers: workers.map((w) => ({ pid: w.proc.pid, ready: w.ready, connections: w.conns.size, active: w.stats.active })),
        worker_restarts: restarts,
      }),
    }, bound);
    own = bound.flatMap((b) => (b.port === undefined ? [] : [{ host: b.host, port: b.port }]));
    for (let i = 0; i < count; i++) spawn(i);
    await Promise.race([
      Promise.all(workers.map((w) => new Promise<void>((r) => w.proc.on('message', (m: FromWorker) => m.t === 'ready' && r())))),
      Promise.all(workers.map((w) => w.done)).then(() => {
        throw new Error('the workers could not start');
      }),
    ]);
    return {
      get config() {
        return ref.current;
      },
      caCertPath: caPaths(initial.dataDir).cert,
      addresses: { ...agentAddresses(initial, agentBound), admin: ops.admin, ui: ops.ui },
      ...(ops.uiToken === undefined ? {} : { uiToken: ops.uiToken }),
      openConnections: (client?: string) => (client === undefined ? workers.reduce((n, w) => n + w.conns.size, 0) : perClient.get(client) ?? 0),
      reload,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

function refused(entry: Flow['entry'], listener: string, client: string, code: string, reason: string): Flow {
  return newFlow({ entry, listener, client, protocol: 'tcp', decision: 'refuse', code, reason });
}

/** A request a dead worker had in progress, as far as its head went: path and query sealed by DLP like any recorded head. */
function cut(b: Begun, reason: string, config: Config): Flow {
  const [, startedAt, entry, listener, client, method, raw, host, protocol] = b;
  // An explicit proxy's plain-HTTP request names the whole URL; the flow keeps its path.
  const target = /^https?:\/\//i.test(raw) ? raw.replace(/^https?:\/\/[^/?#]*/i, '') || '/' : raw;
  const q = target.indexOf('?');
  const flow = newFlow({
    startedAt,
    entry,
    listener,
    client,
    method,
    protocol,
    decision: 'error',
    code: 'worker_exited',
    reason,
    totalMs: Date.now() - startedAt,
    ...(host ? { host } : {}),
    path: q < 0 ? target : target.slice(0, q),
    ...(q < 0 ? {} : { query: target.slice(q + 1) }),
  });
  sealFlowText(flow, rulesFor(config.dlp, host ?? '', flow.path ?? '/'), null, true);
  return flow;
}

/** proxy/airlock.js: the command itself, run again as a worker (from the bundle or the sources). */
function workerEntry(): string {
  // Both proxy/dist/cli.js and proxy/workers/supervisor.ts sit one level below proxy/.
  return fileURLToPath(new URL('../airlock.js', import.meta.url));
}

/** The V8 memory flags airlock runs with (the bin's shebang), never a test runner's loader flags. */
function workerFlags(): string[] {
  const flags = process.execArgv.filter((f) => /^--((max|initial)-(semi|old)-space-size|v8-pool-size)=/.test(f));
  for (const [name, value] of [['--max-semi-space-size', '1'], ['--v8-pool-size', '1'], ['--initial-old-space-size', '32']]) {
    if (!flags.some((f) => f.startsWith(`${name}=`))) flags.push(`${name}=${value}`);
  }
  return flags;
}
