// What an agent may take to send a request body (policy `limits:`): silence (body_timeout), a
// minimum rate (min_body_rate, judged per window of time airlock spends waiting for the agent,
// after a first window of grace), a total deadline (request_timeout), and chunk extensions in
// total (max_chunk_extension_bytes; Node's parser bounds them only per chunk). Time spent waiting
// on the upstream (backpressure: bytes received but not yet read) never counts against the agent.
import type http from 'node:http';
import type http2 from 'node:http2';
import type { Limits } from '../policies/types.ts';
import { AirlockError } from './errors.ts';

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;

/**
 * Chunk framing every chunk may take besides its data: up to 16 hex digits and two CRLFs (20
 * bytes), plus slack for a chunk whose data arrives in several reads. Anything more is extensions.
 */
const FRAMING_PER_PUSH = 24;

/** Watches `req`'s body until it ends; `onRefuse` runs at most once, with the limit that was hit. */
export function watchBody(req: AnyRequest, limits: Limits, onRefuse: (err: AirlockError) => void): void {
  const started = Date.now();
  let refused = false;
  const refuse = (code: string, reason: string) => {
    if (refused) return;
    refused = true;
    stop();
    // Never from inside the parser's callback: the request stream is mid-push there.
    process.nextTick(onRefuse, new AirlockError(code, reason));
  };

  // Every chunk Node's parser hands over passes here: counted for the rate and silence checks,
  // and for chunked HTTP/1.1 weighed against the bytes the socket read (extensions cost bytes
  // on the wire but never reach the body).
  let received = 0;
  let pushes = 0;
  const chunked = req.httpVersionMajor === 1 && req.headers['transfer-encoding'] !== undefined;
  const socket = req.socket;
  const start = chunked ? socket.bytesRead : 0; // the read that carried the head is not counted
  let readEnd = start;
  let counted = 0;
  let countedPushes = 0;
  const push = req.push.bind(req);
  req.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (chunk) {
      pushes++;
      received += (chunk as Buffer).length;
      if (chunked && !refused) {
        const r = socket.bytesRead;
        // A new read began: the previous one is parsed to its end, so what it held beyond data
        // and framing was extensions.
        if (r !== readEnd && readEnd > start) {
          const extensions = readEnd - start - counted - FRAMING_PER_PUSH * countedPushes;
          if (extensions > limits.maxChunkExtensionBytes) {
            refuse('chunk_extensions_too_large', `the request's chunk extensions exceed limits.max_chunk_extension_bytes (${limits.maxChunkExtensionBytes}) in total`);
          }
        }
        readEnd = r;
        if (r > start) {
          counted += (chunk as Buffer).length;
          countedPushes++;
        }
      }
    }
    return push(chunk, encoding);
  };

  const window = limits.minBodyRateWindowMs;
  // Four looks per shortest limit: 2.5 s with the defaults (one timer per request with a body).
  const tick = Math.max(250, Math.floor(Math.min(limits.bodyTimeoutMs, window, limits.requestTimeoutMs) / 4));
  let seen = -1;
  let quietSince = started;
  let waited = 0; // ms of the current window spent waiting for the agent
  let windowStart = 0; // bytes received when the current window began
  let windows = 0;
  let last = started;
  const timer = setInterval(() => {
    if (req.complete || req.destroyed || req.readableEnded) return stop();
    const now = Date.now();
    const step = now - last;
    last = now;
    if (now - started >= limits.requestTimeoutMs) {
      return refuse('request_timeout', `the request body was not complete within ${seconds(limits.requestTimeoutMs)} (limits.request_timeout)`);
    }
    // Bytes waiting to be read: airlock (the upstream) is the slow side, not the agent.
    const backpressure = req.readableLength > 0;
    if (pushes !== seen || backpressure) {
      seen = pushes;
      quietSince = now;
    } else if (now - quietSince >= limits.bodyTimeoutMs) {
      return refuse('request_body_timeout', `the agent sent no request body bytes for ${seconds(limits.bodyTimeoutMs)} (limits.body_timeout)`);
    }
    if (limits.minBodyRate === 0 || backpressure) return;
    waited += step;
    if (waited < window) return;
    const bytes = received - windowStart;
    const need = (limits.minBodyRate * waited) / 1000;
    // The first window is grace (connection warm-up, a client preparing its body).
    if (windows++ > 0 && bytes < need) {
      return refuse(
        'request_body_too_slow',
        `the agent sent ${bytes} request body bytes in ${seconds(waited)}, less than limits.min_body_rate (${limits.minBodyRate} bytes/s) over limits.min_body_rate_window`,
      );
    }
    waited = 0;
    windowStart = received;
  }, tick);
  timer.unref();
  const stop = () => clearInterval(timer);
  req.once('end', stop);
  req.once('close', stop);
}

function seconds(ms: number): string {
  return ms % 60_000 === 0 && ms >= 60_000 ? `${ms / 60_000}m` : `${ms / 1000}s`;
}
