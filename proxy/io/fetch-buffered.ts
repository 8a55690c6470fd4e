// One small request of airlock's own (a token endpoint) through an upstream pool, its answer
// read whole up to a limit. The pool is the one agents' requests use: same address checks, same
// TLS verification, same timeouts.
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { AirlockError } from '../errors.ts';

export interface BufferedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export function fetchBuffered(pool: Dispatcher, req: { path: string; method: string; headers: string[]; body: Buffer }, maxBytes: number): Promise<BufferedResponse> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    const parts: Buffer[] = [];
    let size = 0;
    pool.dispatch(
      { path: req.path, method: req.method as Dispatcher.HttpMethod, headers: req.headers, body: req.body },
      {
        onRequestStart() {},
        onResponseStart(_controller, statusCode, h) {
          status = statusCode;
          headers = h as IncomingHttpHeaders;
        },
        onResponseData(controller, chunk) {
          if (status < 200) return;
          size += chunk.length;
          if (size > maxBytes) return void controller.abort(new AirlockError('token_response_too_large', `the answer is longer than ${maxBytes} bytes`));
          parts.push(chunk);
        },
        onResponseEnd() {
          resolve({ status, headers, body: Buffer.concat(parts) });
        },
        onResponseError(_controller, err) {
          reject(err);
        },
      },
    );
  });
}
