// Peeks at the first bytes of a connection to tell TLS from plain HTTP, without losing them:
// whatever was read is pushed back with unshift() before the socket is handed on.
import type net from 'node:net';
import { MAX_HELLO_BYTES, parseClientHello } from './client-hello.ts';

export type Sniffed =
  | { kind: 'tls'; serverName?: string; alpn: string[] }
  | { kind: 'http' }
  /** Neither: `code` is what the connection is recorded as (the agent gave up, stalled, or sent garbage). */
  | { kind: 'other'; code: 'bad_request' | 'header_timeout' | 'client_closed'; reason: string };

/**
 * Text (printable ASCII, or the CR/LF/space/tab a request may start with) is HTTP for Node's
 * strict parser to read: a malformed request line ("get / HTTP/1.1", "GET  /") then gets a 400
 * like any other bad request. Binary that is not a ClientHello is closed.
 */
const TEXT = (b: number) => (b >= 0x20 && b <= 0x7e) || b === 0x09 || b === 0x0a || b === 0x0d;

/** `timeoutMs`: how long the agent may take to send its first request or ClientHello (limits.header_timeout). */
export function sniff(socket: net.Socket, timeoutMs: number): Promise<Sniffed> {
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (result: Sniffed) => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', stop);
      clearTimeout(timer);
      socket.pause();
      if (buf.length) socket.unshift(buf);
      resolve(result);
    };
    // Only a ClientHello is ever held back here (text goes to the HTTP parser at its first byte).
    const gaveUp = (how: string) =>
      done({ kind: 'other', code: 'client_closed', reason: `the agent ${how} the connection ${buf.length ? `after ${buf.length} bytes of a ClientHello` : 'before sending anything'}` });
    const onEnd = () => gaveUp('closed');
    const onError = (err: Error & { code?: string }) => gaveUp(err.code === 'ECONNRESET' ? 'reset' : `broke (${err.code ?? err.message})`);
    // A close without 'end' or 'error' is airlock's own doing (shutdown): nothing to resolve or record.
    const stop = () => clearTimeout(timer);
    const timer = setTimeout(
      () => done({ kind: 'other', code: 'header_timeout', reason: `no complete ClientHello or request line within ${timeoutMs / 1000}s (limits.header_timeout)` }),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (buf[0] === 0x16) {
        const hello = parseClientHello(buf);
        if (hello.kind === 'hello') done({ kind: 'tls', serverName: hello.serverName, alpn: hello.alpn });
        else if (hello.kind === 'invalid') done({ kind: 'other', code: 'bad_request', reason: `bad TLS ClientHello: ${hello.reason}` });
        else if (buf.length > MAX_HELLO_BYTES + 1024) done({ kind: 'other', code: 'bad_request', reason: 'ClientHello too large' });
        return;
      }
      done(TEXT(buf[0]) ? { kind: 'http' } : { kind: 'other', code: 'bad_request', reason: 'not HTTP or TLS' });
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
    socket.once('close', stop);
  });
}
