// Limits enforced at the listeners (policy `limits:`): connections per client, new leaf
// certificates per client, and the checks every request passes before the pipeline sees it
// (framing Node's parser lets through, sizes, host/:authority agreement). Request bodies:
// proxy/body-watch.ts.
import type http from 'node:http';
import type http2 from 'node:http2';
import type net from 'node:net';
import type { Limits } from '../policies/types.ts';
import { normalizeHost } from '../policies/hostnames.ts';

/**
 * The key a limit counts by: the client's IP address (all Unix-socket clients share "unix"). A TCP
 * client that reset before airlock accepted its connection has no address left: "unknown".
 */
export function clientKey(socket: net.Socket): string {
  return socket.remoteAddress ?? (socket.localPort === undefined ? 'unix' : 'unknown');
}

/** Open connections per client address, across every agent-facing listener. */
export class ConnectionCounter {
  readonly #open = new Map<string, number>();
  #total = 0;
  constructor(private readonly max: () => number) {}

  /**
   * Counts the socket until it closes, whatever closes it ('close' comes once, and every path
   * that hands the socket on ends in it); false (and nothing counted) when the client is at its limit.
   */
  admit(socket: net.Socket): boolean {
    const key = clientKey(socket);
    const n = this.#open.get(key) ?? 0;
    if (n >= this.max()) return false;
    this.#open.set(key, n + 1);
    this.#total++;
    socket.once('close', () => {
      this.#total--;
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left <= 0) this.#open.delete(key);
      else this.#open.set(key, left);
    });
    return true;
  }

  count(key: string): number {
    return this.#open.get(key) ?? 0;
  }

  total(): number {
    return this.#total;
  }
}

/**
 * New leaf certificates per client per minute. A leaf already cached costs nothing and is always
 * allowed; a flood of new names from one client stops at its budget instead of taking the CPU
 * (and the leaf cache) from everyone else.
 */
/** Takes one leaf mint from a client's budget: here, or (with workers) from the budget all workers share. */
export interface MintGate {
  take(client: string): boolean | Promise<boolean>;
}

export class MintBudget implements MintGate {
  readonly #recent = new Map<string, number[]>(); // client -> mint times (ms), oldest first
  constructor(
    private readonly perMinute: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one mint from the client's budget; false when none is left in the last minute. */
  take(client: string): boolean {
    const t = this.now();
    let times = this.#recent.get(client);
    if (!times) this.#recent.set(client, (times = []));
    while (times.length && times[0] <= t - 60_000) times.shift();
    if (times.length >= this.perMinute()) return false;
    times.push(t);
    if (this.#recent.size > 10_000) this.#sweep(t);
    return true;
  }

  #sweep(t: number): void {
    for (const [k, v] of this.#recent) if (!v.length || v[v.length - 1] <= t - 60_000) this.#recent.delete(k);
  }
}

/**
 * Connections airlock has refused a request on and is closing: nothing more is read from them
 * (a request pipelined behind a refused one is never handled) and the parser's own complaint
 * about the rest of the bytes is not recorded a second time.
 */
export const closing = new WeakSet<object>();

export interface GateRefusal {
  status: 400 | 414 | 431;
  code: string;
  reason: string;
  /** The request's framing cannot be trusted: close the connection after answering. */
  close: boolean;
}

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;

/**
 * What Node's strict parser lets through but airlock still refuses: ambiguity is never repaired.
 * Runs on every request before the pipeline. Null: the request may go on.
 */
export function gateRequest(req: AnyRequest, limits: Limits, upgradeEvent: boolean): GateRefusal | null {
  const raw = req.rawHeaders;
  const h2 = req.httpVersionMajor === 2;
  const url = h2 ? ((req.headers[':path'] as string | undefined) ?? req.url ?? '') : (req.url ?? '');
  if (!h2 && req.httpVersion !== '1.1' && req.httpVersion !== '1.0') {
    return { status: 400, code: 'bad_request', reason: `HTTP version ${req.httpVersion} is not accepted`, close: true };
  }
  if (Buffer.byteLength(url) > limits.maxUrlBytes) {
    return { status: 414, code: 'url_too_long', reason: `the request target is longer than limits.max_url_bytes (${limits.maxUrlBytes})`, close: false };
  }
  let fields = 0;
  for (let i = 0; i < raw.length; i += 2) if (!raw[i].startsWith(':')) fields++; // HTTP/2 pseudo-headers do not count
  if (fields > limits.maxHeaders) {
    return { status: 431, code: 'too_many_headers', reason: `the request has more than limits.max_headers (${limits.maxHeaders}) header fields`, close: true };
  }
  if (url.includes('#')) return { status: 400, code: 'bad_request', reason: 'the request target contains a fragment ("#")', close: true };
  let hosts = 0;
  let te: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (name === 'host') hosts++;
    else if (name === 'transfer-encoding') te.push(raw[i + 1]);
  }
  if (hosts > 1) return { status: 400, code: 'bad_request', reason: 'more than one Host header', close: true };
  if (te.length) {
    if (req.httpVersion === '1.0') return { status: 400, code: 'bad_request', reason: 'Transfer-Encoding in an HTTP/1.0 request', close: true };
    const codings = te.join(',').split(',').map((c) => c.trim().toLowerCase());
    if (codings.length !== 1 || codings[0] !== 'chunked') {
      return { status: 400, code: 'bad_request', reason: `Transfer-Encoding ${JSON.stringify(te.join(', '))}: only "chunked" is accepted`, close: true };
    }
  }
  if (h2) {
    // RFC 9113 8.3.1: :authority and Host, when both are sent, must name the same origin.
    const authority = req.headers[':authority'] as string | undefined;
    const host = req.headers.host;
    if (authority !== undefined && host !== undefined && !sameAuthority(authority, host)) {
      // Within one request, so 400 (a request for another host than the connection's is 421: stages/target.ts).
      return { status: 400, code: 'host_mismatch', reason: `Host ${JSON.stringify(host)} differs from :authority ${JSON.stringify(authority)}`, close: false };
    }
  }
  // No blind tunnels: WebSocket is the only upgrade, and only through Node's upgrade path (the
  // pipeline then waits for the upstream's real 101). An Upgrade header elsewhere is refused too.
  const upgrade = req.headers.upgrade;
  if (upgrade !== undefined && !h2 && !(upgradeEvent && upgrade.trim().toLowerCase() === 'websocket')) {
    return { status: 400, code: 'bad_request', reason: `Upgrade: ${upgrade} is not proxied`, close: true };
  }
  if (req.headers['http2-settings'] !== undefined) {
    return { status: 400, code: 'bad_request', reason: 'HTTP2-Settings (h2c upgrade) is not proxied', close: true };
  }
  return null;
}

function sameAuthority(a: string, b: string): boolean {
  const host = (x: string) => {
    const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(x);
    const n = m ? normalizeHost(m[1]) : undefined;
    return n?.ok ? `${n.host}:${m![2] || '443'}` : `!${x}`; // HTTP/2 here is always over TLS
  };
  return host(a) === host(b);
}
