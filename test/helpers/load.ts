// A bounded keep-alive load through airlock's explicit proxy: N concurrent request loops over one
// undici ProxyAgent with N connections. Every request carries a unique id (?i=N) so a test can
// match what the client saw complete against what the store holds.
import { performance } from 'node:perf_hooks';
import { ProxyAgent, request } from 'undici';

export interface LoadOptions {
  proxyUrl: string;
  /** airlock's CA (PEM), which the client trusts for the minted leaf. */
  caPem: string;
  /** e.g. https://load.test */
  origin: string;
  path: string;
  connections: number;
  /** No loop starts a request after this many ms from the start. */
  durationMs: number;
  /** No more than this many requests in all. */
  maxRequests: number;
}

export interface Load {
  /** id -> performance.now() when the client had the whole 200 response. */
  completed: Map<number, number>;
  /** Requests issued (ids 0 .. issued-1). */
  issued(): number;
  inFlight(): number;
  /** Failed requests (connection errors, non-200 answers) with when they happened. */
  errors: { id: number; at: number; message: string }[];
  startedAt: number;
  /** Resolves once every loop has ended (deadline, request cap, or its first error). */
  done: Promise<void>;
}

export function startLoad(o: LoadOptions): Load {
  const agent = new ProxyAgent({ uri: o.proxyUrl, requestTls: { ca: o.caPem }, connections: o.connections });
  const completed = new Map<number, number>();
  const errors: Load['errors'] = [];
  const startedAt = performance.now();
  const deadline = startedAt + o.durationMs;
  let next = 0;
  let inFlight = 0;
  const loop = async () => {
    while (performance.now() < deadline && next < o.maxRequests) {
      const id = next++;
      inFlight++;
      try {
        const res = await request(`${o.origin}${o.path}?i=${id}`, { dispatcher: agent });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
        completed.set(id, performance.now());
      } catch (err) {
        // A loop ends at its first failure: after a kill every connection fails, and a loop
        // must not spin on refused connections.
        errors.push({ id, at: performance.now(), message: (err as Error).message });
        return;
      } finally {
        inFlight--;
      }
    }
  };
  const loops = Array.from({ length: o.connections }, loop);
  const done = Promise.all(loops).then(() => agent.destroy().catch(() => {}));
  return { completed, issued: () => next, inFlight: () => inFlight, errors, startedAt, done };
}
