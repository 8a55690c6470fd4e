// Sends an admitted request upstream through undici's low-level dispatch() and relays the answer.
// One small handler object per request: no AbortController, no intermediate stream, and
// backpressure by pausing undici while the agent's socket drains.
import type http from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { HostRule } from '../../policies/types.ts';
import type { InjectedValues } from '../credentials/runtime.ts';
import type { ResponseFilter } from '../dlp/response.ts';
import type { Flow } from '../flow.ts';
import { AirlockError } from '../errors.ts';
import type { AnyResponse } from '../respond.ts';
import { scrubResponseHeaders, windowsAllowed } from '../stages/credentials.ts';
import { forwardableResponseHeaders } from '../stages/headers.ts';

export interface Outbound {
  path: string;
  method: string;
  headers: string[]; // flat [name, value, ...]
  body: AsyncIterable<Buffer> | null;
}

/** Picks the filter (credential echo scrubbing, response DLP) for a response, or null to relay as is. */
export type ResponseFilterFor = (headers: IncomingHttpHeaders) => ResponseFilter | null;

/** Relays the upstream response to `res`; `done` runs once, with the error if the exchange failed. */
export function forwardRequest(
  pool: Dispatcher,
  out: Outbound,
  res: AnyResponse,
  flow: Flow,
  rule: HostRule,
  injected: InjectedValues,
  done: (err?: unknown) => void,
  filterFor?: ResponseFilterFor,
  retry?: RetryOn401,
): void {
  pool.dispatch(
    { path: out.path, method: out.method as Dispatcher.HttpMethod, headers: out.headers, body: out.body as unknown as Readable | null },
    relayResponse(res, flow, rule, injected, done, filterFor, retry),
  );
}

/**
 * A 401 to a request that carried a minted token: `accept()` decides (before anything reaches the
 * agent) whether this answer is dropped and the request sent again, by `again()` once it is gone.
 */
export interface RetryOn401 {
  accept(): boolean;
  again(): void;
  /** Any other answer (not a 401): the token works. */
  answered(): void;
}

/**
 * The handler that relays an upstream response to `res`: status, headers (hop-by-hop removed,
 * secrets scrubbed), and the body through the response filter, with backpressure; `done` runs once.
 */
export function relayResponse(
  res: AnyResponse,
  flow: Flow,
  rule: HostRule,
  injected: InjectedValues,
  done: (err?: unknown) => void,
  filterFor?: ResponseFilterFor,
  retry?: RetryOn401,
): Dispatcher.DispatchHandler {
  let finished = false;
  /** This answer is a 401 that is dropped: the request goes again (retry.again()). */
  let dropped = false;
  let droppedBytes = 0;
  const finish = (err?: unknown) => {
    if (finished) return;
    finished = true;
    done(err);
  };
  let filter: ResponseFilter | null = null;
  /** A response DLP refusal mid-body: the exchange ends here (the agent's response is cut). */
  const refuse = (controller: Dispatcher.DispatchController, err: Error) => {
    if (!controller.aborted) controller.abort(err);
    finish(err);
  };
  return {
    onRequestStart(controller) {
      res.once('close', () => {
        if (!res.writableFinished && !controller.aborted) controller.abort(Object.assign(new Error('the agent closed the connection'), { code: 'UND_ERR_ABORTED' }));
      });
    },
    onResponseStart(controller, statusCode, headers) {
      if (statusCode < 200) return; // 1xx informational: Node answers 100-continue itself
      if (statusCode === 401) {
        if (retry?.accept()) {
          dropped = true;
          return;
        }
      } else retry?.answered();
      if (statusCode === 206 && !windowsAllowed(rule)) {
        // Range was stripped; a window anyway (another way to ask for one) is refused, not relayed.
        const why = 'the upstream answered 206 Partial Content on a rule that injects a credential (set allow_range: true on the rule to relay partial responses)';
        return refuse(controller, new AirlockError('partial_response_refused', why));
      }
      flow.ttfbMs = Date.now() - flow.startedAt;
      flow.status = statusCode;
      flow.responseHeaders = relayHeaders(injected, headers);
      filter = filterFor?.(headers) ?? null;
      if (filter) {
        if (filter.dropLength) delete flow.responseHeaders['content-length'];
        if ('stream' in filter) pipeFiltered(filter.stream, res, controller, finish);
      }
      (res as http.ServerResponse).writeHead(statusCode, flow.responseHeaders);
    },
    onResponseData(controller, chunk) {
      if (dropped) {
        droppedBytes += chunk.length;
        if (droppedBytes > 64 * 1024 && !controller.aborted) controller.abort(new Error('a long 401 answer is not read to its end'));
        return;
      }
      flow.bytesDown += chunk.length;
      if (!filter?.stores) flow.bodies?.response.add(chunk); // a storing filter captures what it released
      let ok: boolean;
      if (filter && 'stream' in filter) ok = filter.stream.write(chunk);
      else {
        const step = filter ? filter.sync.push(chunk) : { out: chunk };
        if ('refused' in step) return refuse(controller, step.refused);
        ok = step.out.length === 0 || (res as http.ServerResponse).write(step.out);
      }
      if (!ok) {
        controller.pause();
        (filter && 'stream' in filter ? filter.stream : res).once('drain', () => controller.resume());
      }
    },
    onResponseEnd(controller) {
      if (dropped) return retry!.again();
      if (filter && 'stream' in filter) return void filter.stream.end(); // finish() runs when the filter has drained
      if (filter) {
        const step = filter.sync.end();
        if ('refused' in step) return refuse(controller, step.refused);
        if (step.out.length) (res as http.ServerResponse).write(step.out);
      }
      res.end();
      finish();
    },
    onResponseError(_controller, err) {
      if (dropped) return retry!.again();
      finish(err);
    },
  };
}

/** The filter's output goes to the agent, with backpressure both ways; a refusal ends the exchange. */
function pipeFiltered(f: Duplex, res: AnyResponse, controller: Dispatcher.DispatchController, finish: (err?: unknown) => void): void {
  f.on('data', (c: Buffer) => {
    if (!(res as http.ServerResponse).write(c)) {
      f.pause();
      res.once('drain', () => f.resume());
    }
  });
  f.on('end', () => {
    res.end();
    finish();
  });
  f.on('error', (err) => {
    if (!controller.aborted) controller.abort(err);
    finish(err);
  });
}

/**
 * Asks the upstream to switch to WebSocket; resolves with its 101 headers and socket. An upstream
 * that answers anything else (403, 404, a 200 that ignores the Upgrade) refused the upgrade: its
 * response goes to the handler `refused()` makes (relayResponse) and the promise resolves with null.
 */
export function forwardUpgrade(
  pool: Dispatcher,
  out: Outbound,
  refused: () => Dispatcher.DispatchHandler,
): Promise<{ headers: IncomingHttpHeaders; socket: Duplex } | null> {
  return new Promise((resolve, reject) => {
    let relay: Dispatcher.DispatchHandler | undefined;
    pool.dispatch(
      { path: out.path, method: 'GET', headers: out.headers, upgrade: 'websocket' },
      {
        onRequestStart() {}, // marks this as a handler of undici's current API
        onRequestUpgrade(_controller, _statusCode, headers, socket) {
          resolve({ headers, socket });
        },
        onResponseStart(controller, statusCode, headers, statusMessage) {
          if (statusCode < 200) return;
          resolve(null);
          relay = refused();
          relay.onRequestStart?.(controller, undefined);
          relay.onResponseStart?.(controller, statusCode, headers, statusMessage);
        },
        onResponseData(controller, chunk) {
          relay?.onResponseData?.(controller, chunk);
        },
        onResponseEnd(controller, trailers) {
          relay?.onResponseEnd?.(controller, trailers);
        },
        onResponseError(controller, err) {
          if (relay) relay.onResponseError?.(controller, err);
          else reject(err);
        },
      },
    );
  });
}

/** Response headers the agent may see: hop-by-hop removed, the values airlock injected scrubbed. */
export function relayHeaders(injected: InjectedValues, headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out = forwardableResponseHeaders(headers);
  scrubResponseHeaders(injected, out);
  return out;
}

/** The 101 response to the agent, with the upstream's (scrubbed) WebSocket headers. */
export function switchingProtocols(headers: Record<string, string | string[]>): string {
  let head = 'HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\n';
  for (const [k, v] of Object.entries(headers)) for (const one of [v].flat()) head += `${k}: ${one}\r\n`;
  return head + '\r\n';
}

/**
 * Two-way byte relay for an upgraded connection; `done` runs once when both sides are gone.
 * `toUpstream`, when given, takes the agent's bytes instead (DLP parses and re-frames them);
 * `toAgent` the upstream's (injected keys scrubbed from its messages).
 */
export function relay(agent: Duplex, up: Duplex, flow: Flow, done: () => void, toUpstream?: (chunk: Buffer) => void, toAgent?: (chunk: Buffer) => void): void {
  let closed = 0;
  const close = () => {
    if (++closed === 2) done();
  };
  agent.on('data', (c: Buffer) => {
    flow.bytesUp += c.length;
    if (toUpstream) {
      toUpstream(c);
      if (up.writableNeedDrain) agent.pause(); // resumed on the upstream's 'drain' below
    } else if (!up.write(c)) agent.pause();
  });
  up.on('drain', () => agent.resume());
  up.on('data', (c: Buffer) => {
    flow.bytesDown += c.length;
    if (toAgent) {
      toAgent(c);
      if (agent.writableNeedDrain) up.pause(); // resumed on the agent's 'drain' below
    } else if (!agent.write(c)) up.pause();
  });
  agent.on('drain', () => up.resume());
  agent.on('end', () => up.end());
  up.on('end', () => agent.end());
  agent.on('close', () => {
    up.destroy();
    close();
  });
  up.on('close', () => {
    agent.destroy();
    close();
  });
  up.on('error', () => {});
}
