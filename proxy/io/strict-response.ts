// Upstream responses with ambiguous framing are refused (502), never repaired: undici's parser
// accepts some framings (e.g. "Transfer-Encoding: gzip, chunked", a Content-Length next to a
// Transfer-Encoding, a repeated Content-Length it only notices once the body is read) that
// airlock would otherwise re-frame for the agent. Checked on the headers, before anything reaches
// the agent. Also: an upgrade only counts when the upstream really answered 101; any other answer
// to an upgrade is an ordinary response.
import type { Dispatcher } from 'undici';
import { AirlockError } from '../errors.ts';

type Headers = Record<string, string | string[] | undefined>;

/** A problem with the response's framing headers, or null. `raw` is undici's [name, value, ...] when known. */
export function responseFramingProblem(statusCode: number, headers: Headers, raw?: (Buffer | string)[] | null): string | null {
  const all = (name: string): string[] => {
    if (raw) {
      const out: string[] = [];
      for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i].toString().toLowerCase() === name) out.push(raw[i + 1].toString());
      return out;
    }
    const v = headers[name];
    return v === undefined ? [] : [v].flat();
  };
  const cl = all('content-length');
  const te = all('transfer-encoding');
  if (cl.length > 1) return `the upstream sent ${cl.length} Content-Length headers`;
  if (cl.length === 1 && !/^\d{1,15}$/.test(cl[0].trim())) return `the upstream sent Content-Length ${JSON.stringify(cl[0])}`;
  if (te.length) {
    if (cl.length) return 'the upstream sent both Content-Length and Transfer-Encoding';
    const codings = te.join(',').split(',').map((c) => c.trim().toLowerCase());
    if (codings.length !== 1 || codings[0] !== 'chunked') return `the upstream sent Transfer-Encoding ${JSON.stringify(te.join(', '))}`;
  }
  if (statusCode === 101) return 'the upstream switched protocols on a request that did not ask for it';
  return null;
}

class StrictHandler implements Dispatcher.DispatchHandler {
  constructor(private readonly inner: Dispatcher.DispatchHandler) {}
  onRequestStart(controller: Dispatcher.DispatchController, context: unknown) {
    this.inner.onRequestStart?.(controller, context);
  }
  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: Headers, socket: import('node:stream').Duplex) {
    if (statusCode !== 101) {
      return controller.abort(new AirlockError('upstream_protocol', `the upstream answered the WebSocket upgrade with ${statusCode}, not 101`));
    }
    this.inner.onRequestUpgrade?.(controller, statusCode, headers as never, socket);
  }
  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Headers, statusMessage?: string) {
    // An upgrade the upstream refused (any status but 101) is an ordinary response, framed like
    // any other: it is relayed, and the agent's connection closes after it (no tunnel).
    const problem = responseFramingProblem(statusCode, headers, (controller as { rawHeaders?: Buffer[] | null }).rawHeaders);
    if (problem) return controller.abort(new AirlockError('upstream_framing', `${problem}: ambiguous response framing is refused`));
    this.inner.onResponseStart?.(controller, statusCode, headers as never, statusMessage);
  }
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer) {
    this.inner.onResponseData?.(controller, chunk);
  }
  onResponseEnd(controller: Dispatcher.DispatchController, trailers: Headers) {
    this.inner.onResponseEnd?.(controller, trailers as never);
  }
  onResponseError(controller: Dispatcher.DispatchController, err: Error) {
    this.inner.onResponseError?.(controller, err);
  }
}

/** An undici interceptor: `pool.compose(strictResponses)`. */
export function strictResponses(dispatch: Dispatcher.Dispatch): Dispatcher.Dispatch {
  return (opts, handler) => dispatch(opts, new StrictHandler(handler));
}
